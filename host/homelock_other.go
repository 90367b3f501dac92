//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package host

import "os"

// flock is not available here: the home is not locked, and running two
// nodes on one home is the operator's mistake to avoid.
func flock(*os.File) error { return nil }

// funlock has nothing to release.
func funlock(*os.File) error { return nil }

// probeLock cannot tell whether a node holds f: it says one does, so that
// `mesh stop` trusts the pid the file holds.
func probeLock(*os.File) error { return errHomeLocked }

// processExists cannot tell here: it trusts the pid.
func processExists(int) bool { return true }
