package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTwoPartyExample runs examples/two-party/run.sh with the built binary:
// two node processes woven through the CLI exchange 100 messages each way.
func TestTwoPartyExample(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("the example is a bash script and bash is not on PATH (.ci/run checks for it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "../../examples/two-party/run.sh")
	cmd.Env = append(os.Environ(), "MESH_BIN="+meshBin)
	// On timeout, SIGTERM lets the script's trap stop both nodes.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"a→b: 100/100, b→a: 100/100: 200 messages exchanged, every payload checked", "woven node-a (inst-a) ⇄ node-b (inst-b)"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("run.sh output lacks %q:\n%s", want, out)
		}
	}
}
