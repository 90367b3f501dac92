//go:build unix

package host

import "syscall"

// openFileLimit is the process's soft limit of open files (Go raises it to
// the hard limit at start), 0 when unknown.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
