package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ppcmesh/mesh/host/internal/defaults"
)

// homeLockName is the file in the home that the running node holds locked
// for its whole life, with its pid in it.
const homeLockName = "mesh.lock"

// errHomeLocked says another open file holds the lock.
var errHomeLocked = errors.New("locked")

// homeLock is the exclusive hold of one node on its home: two nodes on one
// home would each run a NATS store in the same directory, and messages one
// acknowledged would never be poppable.
type homeLock struct{ f *os.File }

// lockHome takes the home's lock, or says which process holds it.
func lockHome(home string) (*homeLock, error) {
	path := filepath.Join(home, homeLockName)
	// os.OpenFile opens with O_CLOEXEC: a child process never inherits the lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock home %s: %w", home, err)
	}
	if err := flock(f); err != nil {
		defer f.Close()
		if errors.Is(err, errHomeLocked) {
			return nil, inUseError{fmt.Sprintf("home %s is in use by %s (it holds %s): stop it, or give this node another --home",
				home, holder(f), path)}
		}
		return nil, fmt.Errorf("lock home %s: %w", home, err)
	}
	if err := writePid(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock home %s: write pid: %w", home, err)
	}
	return &homeLock{f: f}, nil
}

// writePid makes the lock file say which process holds it.
func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// holder names the process whose pid the lock file holds.
func holder(f *os.File) string {
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		return "another process (pid not yet written)"
	}
	return "process " + pid
}

// ErrNoNode says that no running node holds a home.
var ErrNoNode = errors.New("no node is running on this home")

// ErrPidPending says that a node holds a home but has not yet written its
// pid in the lock (it took the lock an instant ago): ask again.
var ErrPidPending = errors.New("the node holding the home has not yet written its pid")

// HomeDir is home, or the default home (~/.mesh) when home is empty.
func HomeDir(home string) (string, error) {
	if home != "" {
		return home, nil
	}
	dir, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory: set --home or MESH_HOME: %w", err)
	}
	return filepath.Join(dir, defaults.HomeDir), nil
}

// HomeHolder is the pid of the running node that holds home's lock;
// ErrNoNode when none holds it (no lock file, or one whose pid is stale: a
// node's lock goes with its process, whatever its file still says). It
// probes with a shared lock, taken and dropped at once: probes never block
// each other, and a node starting in that instant is told the home is in
// use and can be started again.
func HomeHolder(home string) (int, error) {
	path := filepath.Join(home, homeLockName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", home, ErrNoNode)
	}
	if err != nil {
		return 0, fmt.Errorf("read the lock of home %s: %w", home, err)
	}
	defer f.Close()
	switch err := probeLock(f); {
	case err == nil:
		return 0, fmt.Errorf("%s (its %s is not held): %w", home, homeLockName, ErrNoNode)
	case !errors.Is(err, errHomeLocked):
		return 0, fmt.Errorf("probe the lock of home %s: %w", home, err)
	}
	// A holder writes its pid just after it takes the lock, and empties the
	// file before it lets go (release): an empty file is a holder yet to
	// write. So is the pid of a process that is gone (one killed, that
	// could not empty it): the lock went with it, so another holds it now.
	b, _ := io.ReadAll(io.LimitReader(f, 32))
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !processExists(pid) {
		if probeLock(f) == nil { // let go meanwhile
			return 0, fmt.Errorf("%s (its %s is not held): %w", home, homeLockName, ErrNoNode)
		}
		return 0, fmt.Errorf("home %s: %w to %s", home, ErrPidPending, path)
	}
	return pid, nil
}

// release lets another node open the home. It empties the lock file first,
// so that a reader never takes this pid for the next holder's (HomeHolder).
func (l *homeLock) release() {
	if l != nil && l.f != nil {
		_ = l.f.Truncate(0)
		_ = funlock(l.f)
		_ = l.f.Close()
		l.f = nil
	}
}
