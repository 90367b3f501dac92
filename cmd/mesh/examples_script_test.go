package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
)

// runScript runs an example script with the built binary and TMPDIR set to
// tmp (where its temporary home goes), and returns its output and error.
func runScript(t *testing.T, script, tmp string, env ...string) (string, error) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("the example is a bash script and bash is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "../../examples/"+script)
	cmd.Env = append(append(os.Environ(), "MESH_BIN="+meshBin, "TMPDIR="+tmp), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var nodePidRE = regexp.MustCompile(`node: pid (\d+)`)

// assertCleanedUp checks that the script left nothing in tmp and that the
// node it started (named in its output) is gone.
func assertCleanedUp(t *testing.T, out, tmp string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(tmp, "*")); len(left) > 0 {
		t.Errorf("the script left %v behind", left)
	}
	m := nodePidRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the script did not name its node's pid:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	meshtest.WaitFor(t, 10*time.Second, "the script's node gone", func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// TestSingleNodeExample runs examples/single-node/run.sh on a free port: it
// pops what it pushed and removes its node and home.
func TestSingleNodeExample(t *testing.T) {
	tmp := t.TempDir()
	out, err := runScript(t, "single-node/run.sh", tmp)
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	for _, want := range []string{`"content":"aGVsbG8="`, `session \"job-1\" was released`} {
		if !strings.Contains(out, want) {
			t.Fatalf("run.sh output lacks %q:\n%s", want, out)
		}
	}
	assertCleanedUp(t, out, tmp)
}

// TestSingleNodeExampleRefusesATakenPort puts an impostor that answers like
// a node on PORT: the script must fail without sending it a single PTP call
// (it used to rename and release sessions on whatever answered), and still
// remove its node and home.
func TestSingleNodeExampleRefusesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			calls.Add(1)
		}
		_, _ = w.Write([]byte(`{"code":"E0000000000","message":"ok"}`))
	}))
	impostor.Listener.Close()
	impostor.Listener = l
	impostor.Start()
	defer impostor.Close()

	tmp := t.TempDir()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	out, err := runScript(t, "single-node/run.sh", tmp, "PORT="+port)
	if err == nil || !strings.Contains(out, "is port "+port+" taken?") {
		t.Fatalf("run.sh with its port taken: %v, want a failure naming the port:\n%s", err, out)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("run.sh sent %d PTP calls to a node it did not start:\n%s", n, out)
	}
	assertCleanedUp(t, out, tmp)
}
