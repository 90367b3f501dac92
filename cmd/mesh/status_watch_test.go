package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestWatchFrameRates: the view shows totals and the rates of the change
// between two readings (messages and MB per second), one row per partner
// with its own rate, and a partner's chosen id escaped.
func TestWatchFrameRates(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	read := func(at time.Time, pushed, bytes, fwd int64) reading {
		st := status{Ready: true}
		st.Stats.Stats = api.Stats{NodeID: "node-a", Pushed: pushed, PushedBytes: bytes, Popped: pushed / 2,
			Network: network.Stats{Forwarded: fwd, Partners: []network.PartnerStats{
				{NodeID: "node-b", Up: true, Forwarded: fwd / 2, ForwardedBytes: fwd * 1000, Retries: 2, Waiting: 1},
				{NodeID: "evil\x1b[2J", Up: false}}}}
		st.Stats.Cluster = &host.ClusterStatus{Status: cluster.Status{Replica: "r1", Replicas: 3, NATS: "embedded"}, QueueLeader: "r2"}
		return reading{At: at, Status: &st}
	}
	a, b := read(at, 100, 0, 10), read(at.Add(2*time.Second), 300, 2_000_000, 30)
	b.Rates = rateOf(&a, &b)
	var out bytes.Buffer
	frame(&out, "127.0.0.1:7304", 2*time.Second, b)
	for _, want := range []string{"node_id: node-a", "pushed     300", "100.0 msg/s", "1.00 MB/s", "50.0 msg/s",
		"10.0 msg/s", `evil\x1b[2J`, "NO"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("frame lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "cluster: replica r1 of 3   nats embedded   queue leader r2   outbox elsewhere\n") {
		t.Errorf("cluster line (no routes: none shown):\n%s", out.String())
	}
	row := regexp.MustCompile(`(?m)^node-b +yes +15 +5\.0 msg/s +0\.01 MB/s +2 +1$`)
	if !row.MatchString(out.String()) {
		t.Errorf("node-b's row: want 15 forwarded at 5.0 msg/s, 0.01 MB/s, 2 retries, 1 waiting:\n%s", out.String())
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("a partner's escape reached the terminal:\n%q", out.String())
	}
	out.Reset()
	frame(&out, "127.0.0.1:7304", 2*time.Second, a) // the first reading: no rates yet
	if !strings.Contains(out.String(), "pushed     100") || strings.Contains(out.String(), "msg/s") {
		t.Errorf("first frame:\n%s", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// freeAddr is a loopback address nothing listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestWatchKeepsTryingUntilTheNodeAnswers: --watch on an address where no
// node runs shows "unreachable" and keeps reading; once a node starts
// there, the view shows it ready with what was pushed; when it stops, the
// view says unreachable again and goes on. Ending the context
// (Ctrl-C) ends the watch without an error. Output that is not a terminal
// gets appended frames, never escape sequences.
func TestWatchKeepsTryingUntilTheNodeAnswers(t *testing.T) {
	addr := freeAddr(t)
	cmd := statusCmd()
	var out syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--addr", addr, "--watch", "--interval", "100ms", "--count", "1200"}) // 2 min at most
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	meshtest.WaitFor(t, 30*time.Second, "unreachable twice", func() bool { return strings.Count(out.String(), "unreachable") >= 2 })

	n := meshtest.Start(t, host.Config{Listen: addr, ShutdownTimeout: 2 * time.Second})
	n.Identify(t, "watched", "inst")
	c := &meshtest.HTTPClient{URL: n.URL, Session: "w"}
	for i := range 3 {
		if code, err := c.Push(t.Context(), "t", fmt.Appendf(nil, "m%d", i)); err != nil || code != ptp.OK {
			t.Fatalf("push: %s %v", code, err)
		}
	}
	meshtest.WaitFor(t, 60*time.Second, "the view to show the node with 3 pushed", func() bool {
		o := out.String()
		return strings.Contains(o, "node_id: watched") && strings.Contains(o, "pushed     3 ") && strings.Contains(o, "msg/s")
	})
	seen := len(out.String())
	n.Stop(t) // the node goes away: the view says so and keeps reading
	meshtest.WaitFor(t, 60*time.Second, "unreachable after the node stopped", func() bool {
		return strings.Contains(out.String()[seen:], "unreachable")
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch ended with %v, want nil on Ctrl-C", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not end when its context did")
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Fatal("escape sequences written to a non-terminal")
	}
}

// TestWatchCtrlCExitsZero: the built binary's watch ends on SIGINT with
// exit status 0, also while the node is unreachable.
func TestWatchCtrlCExitsZero(t *testing.T) {
	cmd := exec.Command(meshBin, "status", "--watch", "--interval", "100ms", "--addr", freeAddr(t))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && !strings.Contains(sc.Text(), "unreachable") {
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() { // drain, so the process never blocks writing
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mesh status --watch after Ctrl-C: %v, want exit 0", err)
	}
}

// TestWatchJSONLines: -o json prints one JSON object a reading, --count
// bounds them.
func TestWatchJSONLines(t *testing.T) {
	out, err := exec.Command(meshBin, "status", "--watch", "--interval", "50ms", "--count", "3", "-o", "json", "--addr", freeAddr(t)).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 3 || !strings.Contains(lines[2], `"error":`) {
		t.Fatalf("watch -o json --count 3: %v\n%s", err, out)
	}
}

// TestWatchRedrawsOnATerminal: on a terminal each frame starts by clearing
// the screen; a terminal is told from a pipe and a file.
func TestWatchRedrawsOnATerminal(t *testing.T) {
	var out bytes.Buffer
	w := &watchOptions{interval: time.Second}
	c := &control{endpoint: &endpoint{addr: "127.0.0.1:7304"}, output: "table"}
	s := reading{At: time.Now(), Error: "down"}
	for _, tty := range []bool{true, false} {
		out.Reset()
		if err := w.show(&out, c, s, tty); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(out.String(), clearScreen) != tty {
			t.Errorf("tty %v: frame %q", tty, out.String())
		}
	}
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if isTerminal(pw) || isTerminal(file) || isTerminal(&out) {
		t.Error("a pipe, a file or a buffer taken for a terminal")
	}
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer pty.Close()
	if !isTerminal(pty) {
		t.Error("a pseudo-terminal not taken for a terminal")
	}
}
