package main

import (
	"context"
	"math/rand/v2"
	"net"
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
	out := runExample(t, "ha/run.sh", "DEMO=1", "BASE="+strconv.Itoa(haBase(t)))
	for _, want := range []string{"replicas:      3", "r2 popped: hello through r1", "r3 popped: after the crash"} {
		if !strings.Contains(out, want) {
			t.Fatalf("run.sh output lacks %q:\n%s", want, out)
		}
	}
}

// haBase picks BASE for examples/ha/run.sh: the script listens on
// BASE+1..3 and routes on BASE-999..-997, so all six ports must be free,
// not just one. They are held together while checked and released just
// before the script starts; one taken in that short window fails the run
// (the script checks each replica holds its port), it cannot pass against
// another node.
func haBase(t *testing.T) int {
	t.Helper()
	for range 50 {
		base := 12000 + rand.IntN(40000)
		if ls, ok := holdPorts(base+1, base+2, base+3, base-999, base-998, base-997); ok {
			for _, l := range ls {
				l.Close()
			}
			return base
		}
	}
	t.Fatal("no base port with its six ports free after 50 tries")
	return 0
}

// holdPorts listens on each loopback port; on any failure it releases what
// it took and reports false.
func holdPorts(ports ...int) ([]net.Listener, bool) {
	var ls []net.Listener
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, false
		}
		ls = append(ls, l)
	}
	return ls, true
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

// TestHoldPortsChecksEveryPort: haBase's probe fails when any of the
// ports is taken, not only the first, and gives back the ones it took.
func TestHoldPortsChecksEveryPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	if ls, ok := holdPorts(freePort, taken.Addr().(*net.TCPAddr).Port); ok {
		for _, l := range ls {
			l.Close()
		}
		t.Fatal("holdPorts reported free a set with a taken port")
	}
	ls, ok := holdPorts(freePort)
	if !ok {
		t.Fatalf("port %d was not given back after the failed probe", freePort)
	}
	ls[0].Close()
}
