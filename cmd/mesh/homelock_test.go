package main

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestSecondNodeOnOneHomeRefused starts `mesh start --home H` twice, the
// second on another port: the second must exit non-zero naming the pid of
// the first, which keeps serving; once the first stops, a node on H starts
// and pops what was pushed through the first.
func TestSecondNodeOnOneHomeRefused(t *testing.T) {
	home := t.TempDir()
	first := startProc(t, home)
	c := &meshtest.HTTPClient{URL: first.url, Session: "lock"}
	if code, err := c.Push(t.Context(), "t", []byte("kept")); err != nil || code != ptp.OK {
		t.Fatalf("push through the first node: %s %v", code, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, meshBin, "start", "--home", home, "--listen", "127.0.0.1:0").CombinedOutput()
	var ee *exec.ExitError
	pid := strconv.Itoa(first.cmd.Process.Pid)
	if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(string(out), "in use by process "+pid) {
		t.Fatalf("second mesh start on one home: %v, want a non-zero exit naming pid %s:\n%s", err, pid, out)
	}
	if got, code, err := c.Pop(t.Context(), "t", 5000); err != nil || code != ptp.OK || string(got) != "kept" {
		t.Fatalf("the first node after the refused second: %q %s %v", got, code, err)
	}
	if code, err := c.Push(t.Context(), "t", []byte("after")); err != nil || code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	if err := first.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("mesh exited with %v after SIGTERM", err)
	}
	next := startProc(t, home)
	c.URL = next.url
	if got, code, err := c.Pop(t.Context(), "t", 5000); err != nil || code != ptp.OK || string(got) != "after" {
		t.Fatalf("pop after the first stopped: %q %s %v", got, code, err)
	}
	_ = next.signal(t, syscall.SIGTERM)
}
