package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// nodeLog is the standard error of a node process, kept line by line.
type nodeLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *nodeLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }

// all is every line so far.
func (l *nodeLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// anyListenRE finds the node's address in its log, text or JSON.
var anyListenRE = regexp.MustCompile(`"?listen"?[=:]"?([^\s"]+)`)

// startNodeWith runs `mesh start args…` with env added to this process's
// environment (MESH_* and the older variable removed first), waits until
// it serves, and returns it with its standard error.
func startNodeWith(t *testing.T, env []string, args ...string) (*proc, *nodeLog) {
	t.Helper()
	cmd := exec.Command(meshBin, append([]string{"start"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MESH_") && !strings.HasPrefix(kv, legacyPortEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, log := &proc{cmd: cmd, done: make(chan error, 1)}, &nodeLog{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			log.add(sc.Text())
			if m := anyListenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	select {
	case a := <-addr:
		p.url = "http://" + strings.Replace(strings.Replace(a, "[::]", "127.0.0.1", 1), "0.0.0.0", "127.0.0.1", 1)
	case err := <-p.done:
		p.done <- err
		t.Fatalf("mesh start %v exited early: %v\n%s", args, err, strings.Join(log.all(), "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("mesh start did not report its address in 60s")
	}
	meshtest.WaitFor(t, 30*time.Second, "node ready", func() bool {
		_, code, err := (&meshtest.HTTPClient{URL: p.url, Session: "probe"}).Pop(t.Context(), "probe", 1)
		return err == nil && code == ptp.OK
	})
	return p, log
}

// threeWays is one configuration as flags, as environment variables and as
// a --config file: non-default values of each kind (address, size,
// duration, list, bool, count).
type threeWays struct{ flags, env []string }

func sameNodeThreeWays(home string) threeWays {
	return threeWays{
		flags: []string{"--home", home, "--listen", "127.0.0.1:0", "--max-message", "1000", "--pop-wait", "7s",
			"--host", "a.example", "--host", "b.example", "--sync-always", "--max-pops", "77"},
		env: []string{"MESH_HOME=" + home, "MESH_LISTEN=127.0.0.1:0", "MESH_MAX_MESSAGE=1000", "MESH_POP_WAIT=7s",
			"MESH_HOST=a.example,b.example", "MESH_SYNC_ALWAYS=true", "MESH_MAX_POPS=77"},
	}
}

func (w threeWays) file(home string) string {
	return fmt.Sprintf("home: %s\nlisten: \"127.0.0.1:0\"\nmax_message: 1000\npop_wait: 7s\nhost:\n  - a.example\n  - b.example\nsync_always: true\nmax_pops: 77\n", home)
}

// TestSameNodeByFlagsEnvAndFile: one configuration given as flags, as env
// and as a file prints the same `mesh config print`, and a node started
// each way runs with it (its --max-message refuses a bigger push).
func TestSameNodeByFlagsEnvAndFile(t *testing.T) {
	home := t.TempDir()
	w := sameNodeThreeWays(home)
	cfgFile := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(cfgFile, []byte(w.file(home)), 0o600); err != nil {
		t.Fatal(err)
	}
	ways := []struct {
		name string
		env  []string
		args []string
	}{{"flags", nil, w.flags}, {"env", w.env, nil}, {"file", nil, []string{"--config", cfgFile}}, {"MESH_CONFIG", []string{configEnv + "=" + cfgFile}, nil}}
	var want string
	for _, way := range ways {
		out, stderr, status := run(t, append(clearEnv(), way.env...), append([]string{"config", "print"}, way.args...)...)
		if status != 0 {
			t.Fatalf("%s: mesh config print: exit %d: %s", way.name, status, stderr)
		}
		if want == "" {
			want = out
			for _, l := range []string{"max_message: 1000", `pop_wait: "7s"`, `host: ["a.example","b.example"]`, "sync_always: true", "max_pops: 77"} {
				if !strings.Contains(out, l+"\n") {
					t.Errorf("print lacks %q:\n%s", l, out)
				}
			}
		} else if out != want {
			t.Errorf("%s prints differently:\n%s\nwant\n%s", way.name, out, want)
		}
	}
	for _, way := range ways[:3] {
		p, _ := startNodeWith(t, way.env, way.args...)
		c := &meshtest.HTTPClient{URL: p.url, Session: "three"}
		if code, err := c.Push(t.Context(), "t", bytes.Repeat([]byte("x"), 2000)); err != nil || code != ptp.TooLarge {
			t.Errorf("%s: push of 2000 bytes to a node of max_message 1000: %s %v, want %s", way.name, code, err, ptp.TooLarge)
		}
		if code, err := c.Push(t.Context(), "t", []byte("small")); err != nil || code != ptp.OK {
			t.Errorf("%s: small push: %s %v", way.name, code, err)
		}
		_ = p.cmd.Process.Signal(os.Interrupt)
		<-p.done
		p.done <- nil
	}
}

// clearEnv blanks the MESH_* variables the test process may have, for run.
func clearEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MESH_") || k == legacyPortEnv {
			env = append(env, k+"=")
		}
	}
	return env
}

// TestUnknownKeyFailsStartAndPrint: a misspelt key stops both commands,
// naming the key and its line.
func TestUnknownKeyFailsStartAndPrint(t *testing.T) {
	f := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(f, []byte("home: "+t.TempDir()+"\nmax_mesage: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"start", "--config", f}, {"config", "print", "--config", f}} {
		_, stderr, status := run(t, clearEnv(), args...)
		if status == 0 || !strings.Contains(stderr, `mesh.yaml:2: unknown key "max_mesage"`) {
			t.Errorf("mesh %v: exit %d, %q; want the unknown key named", args, status, stderr)
		}
	}
}

// TestUsageGuideCommands runs the PTP usage guide's commands as written:
// `PLUGIN_PROXY_TRANSPORT_Y=17304 mesh start --server` serves on port 17304.
func TestUsageGuideCommands(t *testing.T) {
	p, _ := startNodeWith(t, []string{legacyPortEnv + "=17304", "MESH_HOME=" + t.TempDir()}, "--server")
	if !strings.HasSuffix(p.url, ":17304") {
		t.Fatalf("node at %s, want port 17304", p.url)
	}
	c := &meshtest.HTTPClient{URL: "http://127.0.0.1:17304", Session: "guide"}
	if code, err := c.Push(t.Context(), "t", []byte("m")); err != nil || code != ptp.OK {
		t.Fatalf("push on port 17304: %s %v", code, err)
	}
}
