package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHAPartition cuts one replica of three off from the others with
// network namespaces (examples/ha/partition.sh) and checks that it turns
// unready within 15 s while the majority keeps serving. Creating namespaces
// needs root and iproute2; without them the test says so and skips, and
// the script can be run by hand.
func TestHAPartition(t *testing.T) {
	if reason := cannotNetns(); reason != "" {
		if os.Getenv("CI") != "" && strings.Contains(reason, "iproute2") {
			t.Fatalf("%s: .ci/run installs iproute2, so CI must have it", reason)
		}
		t.Skipf("cannot create network namespaces here (%s): run `sudo examples/ha/partition.sh` by hand", reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../examples/ha/partition.sh")
	cmd.Env = append(os.Environ(), "MESH_BIN="+meshBin, "LIMIT=15")
	out, err := cmd.CombinedOutput()
	t.Logf("partition.sh:\n%s", out)
	if err != nil || !strings.Contains(string(out), "PASS: minority unready") {
		t.Fatalf("partition.sh: %v", err)
	}
}

// cannotNetns says why network namespaces cannot be made here, or "".
func cannotNetns() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command (iproute2)"
	}
	name := fmt.Sprintf("mesh-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return strings.TrimSpace(string(out))
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
	return ""
}
