package host

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestHomeHolder: the pid of the process holding the home's lock while it
// holds it; ErrNoNode without a lock file, once the lock is released, and
// for a pid file nobody holds (a dead node's, whose pid may be reused).
func TestHomeHolder(t *testing.T) {
	home := t.TempDir()
	if _, err := HomeHolder(home); !errors.Is(err, ErrNoNode) {
		t.Fatalf("no lock file: %v", err)
	}
	l, err := lockHome(home)
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := HomeHolder(home); err != nil || pid != os.Getpid() {
		t.Fatalf("held: %d %v, want %d", pid, err, os.Getpid())
	}
	if pid, err := HomeHolder(home); err != nil || pid != os.Getpid() {
		t.Fatalf("a second probe (the first must not have taken the lock): %d %v", pid, err)
	}
	l.release()
	if _, err := HomeHolder(home); !errors.Is(err, ErrNoNode) {
		t.Fatalf("released: %v", err)
	}
	if err := os.WriteFile(filepath.Join(home, homeLockName), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := HomeHolder(home); !errors.Is(err, ErrNoNode) {
		t.Fatalf("stale pid 1: %v", err)
	}
	if l, err := lockHome(home); err != nil {
		t.Fatalf("a probe must leave the home free to lock: %v", err)
	} else {
		l.release()
	}
}
