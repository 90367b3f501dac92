package main

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTwoPartyExample runs examples/two-party/run.sh with the built binary:
// two node processes woven through the CLI exchange 100 messages each way.
func TestTwoPartyExample(t *testing.T) {
	out := runExample(t, "two-party/run.sh")
	for _, want := range []string{"a→b: 100/100, b→a: 100/100: 200 messages exchanged, every payload checked", "woven node-a (inst-a) ⇄ node-b (inst-b)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("run.sh output lacks %q:\n%s", want, out)
		}
	}
}

// TestHAExample runs examples/ha/run.sh in its demo mode: three replicas
// started with one command, a push through r1 popped through r2, and r2
// and r3 serving after r1 is killed.
func TestHAExample(t *testing.T) {
	base := freePorts(t, 1)[0]
	if base > 60000 || base < 2000 {
		base = 40000 + base%10000
	}
	out := runExample(t, "ha/run.sh", "DEMO=1", "BASE="+strconv.Itoa(base))
	for _, want := range []string{"replicas:      3", "r2 popped: hello through r1", "r3 popped: after the crash"} {
		if !strings.Contains(out, want) {
			t.Fatalf("run.sh output lacks %q:\n%s", want, out)
		}
	}
}

// runExample runs an example script with the built binary and returns its
// output.
func runExample(t *testing.T, script string, env ...string) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("the example is a bash script and bash is not on PATH (.ci/run checks for it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "../../examples/"+script)
	cmd.Env = append(append(os.Environ(), "MESH_BIN="+meshBin), env...)
	// On timeout, SIGTERM lets the script's trap stop the nodes.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}
