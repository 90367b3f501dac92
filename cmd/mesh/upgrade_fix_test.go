package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
)

// TestUpgradeStoppedMidway: SIGTERM to a node during its upgrade stops the
// node, as on any stop: right after SIGUSR2 (its new process is abandoned)
// and once it has let go of the home (the stop is passed on to the new
// process). In the end no process holds the home and neither runs.
func TestUpgradeStoppedMidway(t *testing.T) {
	for _, tc := range []struct{ name, after string }{
		{name: "before the new process is ready"},
		{name: "after the handoff", after: "drained and let go of the home"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			first := r.start()
			p0 := first.Process.Pid
			if err := syscall.Kill(p0, upgradeSignal); err != nil {
				t.Fatal(err)
			}
			if tc.after != "" {
				meshtest.WaitFor(t, time.Minute, tc.after, func() bool {
					b, _ := os.ReadFile(r.log)
					return bytes.Contains(b, []byte(tc.after))
				})
			}
			if err := syscall.Kill(p0, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- first.Wait() }()
			select {
			case err := <-exited:
				t.Logf("the old process exited: %v", err)
			case <-time.After(2 * time.Minute):
				t.Fatal("the old process did not stop")
			}
			meshtest.WaitFor(t, time.Minute, "no process to hold the home", func() bool {
				_, err := host.HomeHolder(r.home)
				return errors.Is(err, host.ErrNoNode)
			})
			b, _ := os.ReadFile(r.log)
			for _, line := range regexp.MustCompile(`.*(upgrade|handing over|new process).*`).FindAll(b, -1) {
				t.Logf("%s", line)
			}
			for _, m := range regexp.MustCompile(`handing over to the new process.*?pid["=:]+(\d+)`).FindAllSubmatch(b, -1) {
				pid, _ := strconv.Atoi(string(m[1]))
				meshtest.WaitFor(t, time.Minute, fmt.Sprintf("the new process %d to exit", pid), func() bool { return !running(pid) })
			}
			if _, err := host.HomeHolder(r.home); !errors.Is(err, host.ErrNoNode) {
				t.Fatalf("the home after the stop: %v, want no node", err)
			}
		})
	}
}

// running says whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // no /proc: trust kill
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}

// TestUpgradeRefusedAsPID1: a node that is PID 1 (a container's
// entrypoint) refuses to hand over: its exit would stop the container.
func TestUpgradeRefusedAsPID1(t *testing.T) {
	n := &upgradable{exe: os.Args[0], pid: func() int { return 1 }}
	next, err := n.startSuccessor(t.Context())
	if err == nil || !strings.Contains(err.Error(), "restart the container/pod") {
		if next != nil {
			next.Abandon()
		}
		t.Fatalf("startSuccessor as PID 1: %v, want a refusal", err)
	}
}

// TestUpgradeResetsWatchRates: `mesh status --watch` shows no rates across
// an upgrade (another pid in /stats, whose counters restart from zero),
// rather than negative ones; the same process's readings give rates.
func TestUpgradeResetsWatchRates(t *testing.T) {
	at := time.Now()
	read := func(pid int, pushed int64, dt time.Duration) *reading {
		var st nodeStats
		st.PID, st.Pushed = pid, pushed
		return &reading{At: at.Add(dt), Status: &status{Ready: true, Stats: st}}
	}
	if r := rateOf(read(100, 1000, 0), read(100, 1010, time.Second)); r == nil || r.Pushed != 10 {
		t.Fatalf("same pid: %+v, want 10 pushed/s", r)
	}
	if r := rateOf(read(100, 1000, 0), read(200, 5, time.Second)); r != nil {
		t.Fatalf("another pid (an upgrade): %+v, want no rates", r)
	}
}

// TestUpgradeSignalsOnlyTheHolder: a pid is signalled only while it holds
// the home (read again just before): one that has let go, to another
// process (an upgrade), is not.
func TestUpgradeSignalsOnlyTheHolder(t *testing.T) {
	home := t.TempDir()
	startHolder(t, home)
	bystander := exec.Command("sleep", "600")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = bystander.Wait(); close(exited) }()
	t.Cleanup(func() { _ = bystander.Process.Kill(); <-exited })
	if err := signalHolder(bystander.Process.Pid, home, syscall.SIGTERM); !errors.Is(err, errSuperseded) {
		t.Fatalf("signalHolder of a pid that does not hold the home: %v, want errSuperseded", err)
	}
	select {
	case <-exited:
		t.Fatal("a pid that does not hold the home was signalled")
	default:
	}
}

// TestStopReportsSuperseded: while mesh stop waits, a process other than
// the one it signalled holding the home (the successor of an upgrade) is
// reported, and the timeout is not context.DeadlineExceeded, which --force
// would answer with SIGKILL to the original pid.
func TestStopReportsSuperseded(t *testing.T) {
	home := t.TempDir()
	holder := startHolder(t, home)
	var progress bytes.Buffer
	err := awaitRelease(t.Context(), &progress, home, os.Getpid(), 300*time.Millisecond)
	if !errors.Is(err, errSuperseded) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("awaitRelease with another holder: %v, want errSuperseded", err)
	}
	if want := fmt.Sprintf("to pid %d", holder.Process.Pid); !strings.Contains(progress.String(), want) {
		t.Fatalf("progress %q, want %q", progress.String(), want)
	}
}

// TestUpgradeAwaitsAPidNotYetWritten: a successor that holds the lock but
// has not yet written its pid is waited for, not an error.
func TestUpgradeAwaitsAPidNotYetWritten(t *testing.T) {
	home := t.TempDir()
	f, err := os.OpenFile(filepath.Join(home, "mesh.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := host.HomeHolder(home); !errors.Is(err, host.ErrPidPending) {
		t.Fatalf("HomeHolder of a lock without a pid: %v, want ErrPidPending", err)
	}
	got := make(chan error, 1)
	var pid int
	waiting := make(signalWriter, 1)
	go func() {
		var err error
		pid, err = awaitSuccessor(ctx, waiting, home, 1<<22) // old: a pid no process has
		got <- err
	}()
	// Its first progress line (after a second of polling the empty lock)
	// says it waits rather than failed.
	select {
	case <-waiting:
	case err := <-got:
		t.Fatalf("awaitSuccessor on a lock without a pid yet: %d %v, want it to wait", pid, err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil || pid != os.Getpid() {
		t.Fatalf("awaitSuccessor: %d %v, want %d", pid, err, os.Getpid())
	}
}

// signalWriter tells on its channel that something was written.
type signalWriter chan struct{}

func (w signalWriter) Write(b []byte) (int, error) {
	select {
	case w <- struct{}{}:
	default:
	}
	return len(b), nil
}
