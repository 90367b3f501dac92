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
func flock(f *os.File) error { return tryFlock(f, syscall.LOCK_EX) }

// probeLock takes and drops a shared lock on f without waiting:
// errHomeLocked when a node holds f's exclusive lock.
func probeLock(f *os.File) error {
	if err := tryFlock(f, syscall.LOCK_SH); err != nil {
		return err
	}
	return funlock(f)
}

// tryFlock locks f (how: LOCK_EX or LOCK_SH) without waiting;
// errHomeLocked when another open file holds a conflicting lock.
func tryFlock(f *os.File, how int) error {
	for range 16 { // EINTR only: bounded
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
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

// processExists says whether a process pid runs (or is a zombie): one
// signalled with 0 that is not gone (EPERM: it runs as another user).
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
