//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package host

import (
	"errors"
	"os"
	"syscall"
)

// flock locks f exclusively without waiting. flock(2) locks belong to the
// open file, so a second open of the same home in this process is refused
// too.
func flock(f *os.File) error {
	for range 16 { // EINTR only: bounded
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errHomeLocked
		case !errors.Is(err, syscall.EINTR):
			return err
		}
	}
	return syscall.EINTR
}

// funlock releases f's lock.
func funlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
