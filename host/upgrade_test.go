package host

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHandOffSocketsLeaveTheListenerNonBlocking: handing the node's sockets
// to a child (exec takes each file's Fd, which makes a runtime-made file
// blocking) leaves the node's own listener non-blocking, so that closing it
// (the drain) ends an Accept in progress rather than waiting for a
// connection. O_NONBLOCK is shared by every descriptor of the socket.
func TestHandOffSocketsLeaveTheListenerNonBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	h := &Host{ln: ln}
	files, err := h.Sockets()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[SocketData] == nil {
		t.Fatalf("Sockets: %v, want the data socket only", files)
	}
	_ = files[SocketData].Fd() // what exec does with each of ExtraFiles
	if path, err := exec.LookPath("true"); err == nil {
		cmd := exec.Command(path)
		cmd.ExtraFiles = []*os.File{files[SocketData]}
		if err := cmd.Run(); err != nil {
			t.Fatalf("start a child with the socket: %v", err)
		}
	}
	closeFiles(files)

	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var flErr error
	if err := rc.Control(func(fd uintptr) { flags, flErr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil || flErr != nil {
		t.Fatal(err, flErr)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Error("the node's listener became blocking once its socket was handed over")
	}

	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.Close()
		}
		accepted <- err
	}()
	// Close must end the Accept whether or not it is blocked yet: no
	// timing is assumed, the bound only turns a hang into a failure.
	closed := make(chan struct{})
	go func() { _ = ln.Close(); close(closed) }()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, ch := range []<-chan struct{}{closed, chanOf(accepted)} {
		select {
		case <-ch:
		case <-ctx.Done():
			if c, err := net.Dial("tcp", addr); err == nil { // unblock the accept(2), to end the test
				_ = c.Close()
			}
			t.Fatal("the listener's Close did not end a pending Accept (a blocking socket)")
		}
	}
}

// chanOf is closed once errs yields.
func chanOf(errs <-chan error) <-chan struct{} {
	c := make(chan struct{})
	go func() { <-errs; close(c) }()
	return c
}

// TestHandOffHomeHolderNeverNamesThePreviousHolder: between a successor's
// taking the lock and writing its pid, HomeHolder says the pid is pending,
// never the previous holder's pid (which still runs during an upgrade) nor
// a dead process's.
func TestHandOffHomeHolderNeverNamesThePreviousHolder(t *testing.T) {
	home := t.TempDir()
	l, err := lockHome(home) // the previous holder: this process, which lives on
	if err != nil {
		t.Fatal(err)
	}
	l.release()
	hold := func(content string) *os.File { // a successor that has not written its pid
		f, err := os.OpenFile(filepath.Join(home, homeLockName), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if content != "" {
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(content); err != nil {
				t.Fatal(err)
			}
		}
		if err := flock(f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := hold("")
	if pid, err := HomeHolder(home); !errors.Is(err, ErrPidPending) {
		t.Errorf("after a release, held without a pid: %d %v, want ErrPidPending", pid, err)
	}
	_ = f.Close()

	path, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to make a dead pid of")
	}
	dead := exec.Command(path)
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	f = hold(strconv.Itoa(dead.Process.Pid) + "\n") // a holder killed before it could empty the file
	defer f.Close()
	if pid, err := HomeHolder(home); !errors.Is(err, ErrPidPending) {
		t.Errorf("held, the file naming a dead process: %d %v, want ErrPidPending", pid, err)
	}
}
