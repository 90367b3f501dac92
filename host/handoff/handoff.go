// Package handoff passes a process's listening sockets to its successor:
// the smooth upgrade of a node. The old process starts the new binary with
// the sockets as inherited file descriptors, named in the environment
// variable Env, and a status pipe on which the new process reports, one line
// each, that it can run (Ready) and, later, that it serves (Serving). In
// between the old process lets go of what only one process may hold; the
// kernel queues the connections that arrive meanwhile in the shared
// sockets' backlogs, so none is refused.
//
// Unlike tableflip, whose parent waits for its child to be ready to serve
// before it stops, the old process here stops first: the new one cannot
// open the node's store until the old one has closed it.
package handoff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Env names the inherited descriptors in the successor's environment:
// "status=3,data=4" (role=fd, as exec.Cmd.ExtraFiles numbers them).
const Env = "MESH_HANDOFF"

// statusRole is the role of the status pipe in Env.
const statusRole = "status"

// The reports of a successor on its status pipe.
const (
	Ready   = "ready"   // it read its configuration and holds the sockets: the old process may let go
	Serving = "serving" // it took over (the home's lock, the store) and serves
)

// failPrefix starts a report of why the successor cannot go on.
const failPrefix = "error: "

// Spec is how to start a successor.
type Spec struct {
	Path  string              // the binary
	Args  []string            // its arguments, without the program name
	Env   []string            // its environment, without Env (Start adds it)
	Files map[string]*os.File // the sockets handed over, by role; Start does not close them
	// Stdout and Stderr are files so that the successor writes to them
	// itself: a copying goroutine would end with the old process.
	Stdout, Stderr *os.File
}

// Successor is the new process, as the old one sees it.
type Successor struct {
	cmd    *exec.Cmd
	pid    int
	status *os.File // read end of the status pipe
	lines  *bufio.Reader

	reaped  bool  // Abandon waited for it
	waitErr error // its exit status then
}

// Start starts the successor described by s.
func Start(s Spec) (*Successor, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("handoff: status pipe: %w", err)
	}
	defer w.Close() // the successor holds its copy: EOF here means it exited
	roles := slices.Sorted(maps.Keys(s.Files))
	named := []string{statusRole + "=3"}
	extra := []*os.File{w}
	for i, role := range roles {
		named = append(named, role+"="+strconv.Itoa(4+i))
		extra = append(extra, s.Files[role])
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(withoutEnv(s.Env), Env+"="+strings.Join(named, ","))
	cmd.ExtraFiles, cmd.Stdout, cmd.Stderr = extra, s.Stdout, s.Stderr
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("handoff: start %s: %w", s.Path, err)
	}
	return &Successor{cmd: cmd, pid: cmd.Process.Pid, status: r, lines: bufio.NewReader(r)}, nil
}

// Pid is the successor's process id.
func (s *Successor) Pid() int { return s.pid }

// Await waits until the successor reports want, fails or exits, or ctx
// ends (its error then).
func (s *Successor) Await(ctx context.Context, want string) error {
	d, _ := ctx.Deadline() // none: the zero time
	_ = s.status.SetReadDeadline(d)
	// Ending ctx cuts the read short: a deadline in the past.
	stop := context.AfterFunc(ctx, func() { _ = s.status.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		line, err := s.lines.ReadString('\n')
		switch line = strings.TrimSpace(line); {
		case line == want:
			return nil
		case strings.HasPrefix(line, failPrefix):
			return fmt.Errorf("the new process (pid %d) failed: %s", s.Pid(), strings.TrimPrefix(line, failPrefix))
		case errors.Is(err, os.ErrDeadlineExceeded) && errors.Is(ctx.Err(), context.Canceled):
			return fmt.Errorf("the new process (pid %d) was not %s yet: %w", s.Pid(), want, ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("the new process (pid %d) did not report %s in time", s.Pid(), want)
		case err != nil:
			return fmt.Errorf("the new process (pid %d) ended before it was %s: %w", s.Pid(), want, s.exitErr())
		}
	}
}

// exitErr reaps the successor, which closed its status pipe (killing it
// should it linger): its exit status.
func (s *Successor) exitErr() error {
	s.Abandon()
	if s.waitErr == nil {
		return errors.New("exit status 0")
	}
	return s.waitErr
}

// Abandon kills the successor, which failed before the old process let
// go, and waits for it. (A successor that exited by itself keeps its own
// exit status.)
func (s *Successor) Abandon() {
	if s.reaped {
		return
	}
	_ = s.cmd.Process.Kill()
	s.waitErr, s.reaped = s.cmd.Wait(), true
	_ = s.status.Close()
}

// Stop sends the successor, which serves, sig and waits for it to exit:
// its exit status (nil for 0).
func (s *Successor) Stop(sig os.Signal) error {
	_ = s.status.Close()
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal the new process (pid %d): %w", s.Pid(), err)
	}
	s.waitErr, s.reaped = s.cmd.Wait(), true
	if s.waitErr != nil {
		return fmt.Errorf("the new process (pid %d) stopped: %w", s.Pid(), s.waitErr)
	}
	return nil
}

// Release leaves the successor, which serves, to run on alone.
func (s *Successor) Release() {
	_ = s.status.Close()
	_ = s.cmd.Process.Release()
}

// withoutEnv is env without any Env of a previous handoff.
func withoutEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, Env+"=") })
}

// Handed is what a successor inherited from the old process.
type Handed struct {
	status *os.File
	files  map[string]*os.File // by role
}

// Inherit reads Env and unsets it: nil when this process was not started by
// a handoff.
func Inherit() (*Handed, error) {
	v, ok := os.LookupEnv(Env)
	if !ok {
		return nil, nil
	}
	_ = os.Unsetenv(Env)
	h := &Handed{files: map[string]*os.File{}}
	for item := range strings.SplitSeq(v, ",") {
		role, fd, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(fd)
		if !ok || err != nil || n < 3 {
			return nil, fmt.Errorf("handoff: %s=%q: want role=fd,…", Env, v)
		}
		f := os.NewFile(uintptr(n), role)
		if role == statusRole {
			h.status = f
		} else {
			h.files[role] = f
		}
	}
	if h.status == nil {
		return nil, fmt.Errorf("handoff: %s=%q names no status pipe", Env, v)
	}
	return h, nil
}

// Listeners are the inherited sockets by role; their files are closed (the
// listeners hold their own descriptors).
func (h *Handed) Listeners() (map[string]net.Listener, error) {
	if h == nil {
		return nil, nil
	}
	lns := map[string]net.Listener{}
	for role, f := range h.files {
		ln, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, fmt.Errorf("handoff: inherited %s socket: %w", role, err)
		}
		lns[role] = ln
	}
	h.files = nil
	return lns, nil
}

// Report tells the old process that this one reached state (Ready or
// Serving); Serving is the last report. Nothing when not handed over.
func (h *Handed) Report(state string) error {
	if h == nil || h.status == nil {
		return nil
	}
	_, err := fmt.Fprintln(h.status, state)
	if state == Serving {
		h.close()
	}
	if err != nil {
		return fmt.Errorf("handoff: report %s: %w", state, err)
	}
	return nil
}

// Fail tells the old process why this one cannot go on (its last report).
func (h *Handed) Fail(err error) {
	if h == nil || h.status == nil || err == nil {
		return
	}
	_, _ = fmt.Fprintln(h.status, failPrefix+strings.ReplaceAll(err.Error(), "\n", " "))
	h.close()
}

func (h *Handed) close() {
	_ = h.status.Close()
	h.status = nil
}
