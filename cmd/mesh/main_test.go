package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

var meshBin string

// TestMain builds the mesh binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	if home := os.Getenv(holdHomeEnv); home != "" {
		holdHome(home) // a child of TestStopTimeoutAndForce: never returns
	}
	dir, err := os.MkdirTemp("", "mesh-bin")
	if err != nil {
		panic(err)
	}
	meshBin = filepath.Join(dir, "mesh")
	if out, err := exec.Command("go", "build", "-o", meshBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mesh: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	plugintest.Cleanup()
	os.Exit(code)
}

// proc is a mesh node running as a separate process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

var listenRE = regexp.MustCompile(`listen=(\S+)`)

// startProc runs `mesh start` on home with a free loopback port and waits
// until it is ready.
func startProc(t *testing.T, home string) *proc {
	t.Helper()
	cmd := exec.Command(meshBin, "start", "--home", home, "--listen", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("mesh start exited early: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("mesh start did not report its address in 60s")
	}
	meshtest.WaitFor(t, 30*time.Second, "node ready", func() bool {
		_, code, err := (&meshtest.HTTPClient{URL: p.url, Session: "probe"}).Pop(t.Context(), "probe", 1)
		return err == nil && code == ptp.OK
	})
	return p
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatalf("mesh did not exit within 60s of %v", sig)
		return nil
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(meshBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "mesh ") {
		t.Fatalf("mesh version: %v %q", err, out)
	}
}

func TestStartRejectsBadListenAddress(t *testing.T) {
	out, err := exec.Command(meshBin, "start", "--home", t.TempDir(), "--listen", "nonsense").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listen address") {
		t.Fatalf("want a clear error, got %v %q", err, out)
	}
}

func TestMessagesSurviveGracefulRestart(t *testing.T) {
	home := t.TempDir()
	p := startProc(t, home)
	c := &meshtest.HTTPClient{URL: p.url, Session: "durable"}
	for i := range 100 {
		if code, err := c.Push(t.Context(), "t", fmt.Appendf(nil, "m%03d", i)); err != nil || code != ptp.OK {
			t.Fatalf("push %d: %s %v", i, code, err)
		}
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("mesh exited with %v after SIGTERM", err)
	}
	p = startProc(t, home)
	c.URL = p.url
	for i := range 100 {
		got, code, err := c.Pop(t.Context(), "t", 5000)
		if err != nil || code != ptp.OK || string(got) != fmt.Sprintf("m%03d", i) {
			t.Fatalf("pop %d after restart: %q %s %v", i, got, code, err)
		}
	}
	_ = p.signal(t, syscall.SIGTERM)
}

// TestAcknowledgedPushesSurviveKill9 kills the node while producers push:
// every push that was acknowledged must be popped after a restart, in order
// per topic, and none twice.
func TestAcknowledgedPushesSurviveKill9(t *testing.T) {
	home := t.TempDir()
	p := startProc(t, home)
	const producers = 4
	acked := make([][]string, producers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for w := range producers {
		wg.Go(func() {
			c := &meshtest.HTTPClient{URL: p.url, Session: "kill9"}
			for i := 0; i < 100000; i++ {
				msg := fmt.Sprintf("p%d-%06d", w, i)
				code, err := c.Push(t.Context(), fmt.Sprint("t", w), []byte(msg))
				if err != nil || code != ptp.OK {
					return // the node is gone
				}
				mu.Lock()
				acked[w] = append(acked[w], msg)
				total++
				mu.Unlock()
			}
		})
	}
	meshtest.WaitFor(t, 60*time.Second, "400 acknowledged pushes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total >= 400
	})
	_ = p.signal(t, syscall.SIGKILL)
	wg.Wait()

	p = startProc(t, home)
	c := &meshtest.HTTPClient{URL: p.url, Session: "kill9"}
	for w := range producers {
		var popped []string
		for {
			got, code, err := c.Pop(t.Context(), fmt.Sprint("t", w), 200)
			if err != nil || code != ptp.OK {
				t.Fatalf("pop: %s %v", code, err)
			}
			if len(got) == 0 {
				break
			}
			popped = append(popped, string(got))
		}
		// Popped = acknowledged pushes in order, plus at most the one in
		// flight when the node died.
		if len(popped) < len(acked[w]) || len(popped) > len(acked[w])+1 {
			t.Fatalf("producer %d: %d acknowledged, %d popped", w, len(acked[w]), len(popped))
		}
		for i, m := range acked[w] {
			if popped[i] != m {
				t.Fatalf("producer %d: pop #%d is %q, want %q", w, i, popped[i], m)
			}
		}
		t.Logf("producer %d: %d acknowledged before kill -9, all popped after restart", w, len(acked[w]))
	}
	_ = p.signal(t, syscall.SIGTERM)
}

func TestLoadCommand(t *testing.T) {
	p := startProc(t, t.TempDir())
	addr := addrOf(p)
	for _, tr := range []string{"grpc", "http"} {
		out, err := exec.Command(meshBin, "load", "--addr", addr, "--transport", tr,
			"--count", "400", "--concurrency", "4", "--size", "2KiB", "-o", "json").Output()
		if err != nil {
			t.Fatalf("mesh load %s: %v %s", tr, err, out)
		}
		var r loadResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: %v %q", tr, err, out)
		}
		if r.Sent != 400 || r.Received != 400 || r.Errors != 0 || r.OutOfOrder != 0 || r.Size != 2048 || r.MsgsPerSec <= 0 {
			t.Fatalf("%s: %+v", tr, r)
		}
	}
	out, err := exec.Command(meshBin, "load", "--addr", addr, "--size", "lots").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "size") {
		t.Fatalf("bad size accepted: %v %s", err, out)
	}
}

func TestChanCommands(t *testing.T) {
	addr := addrOf(startProc(t, t.TempDir()))
	mesh := func(stdin string, args ...string) (string, error) {
		return cli(t, addr, stdin, append([]string{"chan", "--session", "cli"}, args...)...)
	}
	steps := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"push", "t", "first"}, ""},
		{"second\x00\xff", []string{"push", "t"}, ""},
		{"", []string{"peek", "t"}, "first"},
		{"", []string{"pop", "t"}, "first"},
		{"", []string{"pop", "t"}, "second\x00\xff"},
		{"", []string{"release"}, ""},
	}
	for i, s := range steps {
		if i == len(steps)-1 {
			// An empty queue: the pop times out, prints nothing, and exits 3
			// (a popped 0-byte message exits 0; see TestPopTellsTimeoutFromEmptyMessage).
			out, err := mesh("", "pop", "t", "--timeout", "10")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 || out != "" || !strings.Contains(err.Error(), "no message within 10ms") {
				t.Fatalf("mesh chan pop of an empty queue: %q %v, want exit 3", out, err)
			}
		}
		if out, err := mesh(s.stdin, s.args...); err != nil || out != s.want {
			t.Fatalf("mesh chan %v: %q %v, want %q", s.args, out, err, s.want)
		}
	}
	// A failure exits non-zero with the code and the node's own message.
	_, err := mesh("", "push", "t", "late")
	if err == nil || !strings.Contains(err.Error(), string(ptp.SessionReleased)+": session") {
		t.Fatalf("push after release: %v", err)
	}
}
