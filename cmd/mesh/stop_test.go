package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
)

// holdHomeEnv makes the test binary, run as a child, hold a home's lock as
// a node would and ignore SIGTERM: a node that will not stop.
const holdHomeEnv = "MESH_TEST_HOLD_HOME"

// holdHome is the child's side of holdHomeEnv; it never returns.
func holdHome(home string) {
	f, err := os.OpenFile(filepath.Join(home, "mesh.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err == nil {
		_, err = fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	if err != nil {
		fmt.Println("hold:", err)
		os.Exit(2)
	}
	signal.Ignore(syscall.SIGTERM)
	fmt.Println("held")
	select {}
}

// startHolder runs holdHome on home and waits until it holds the lock.
func startHolder(t *testing.T, home string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdHomeEnv+"="+home)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "held" {
		t.Fatalf("lock holder: %q", line)
	}
	return cmd
}

// runStop runs the built `mesh stop` with args.
func runStop(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, meshBin, append([]string{"stop"}, args...)...).CombinedOutput()
	return string(out), err
}

// TestStopStopsTheNodeOnItsHome: `mesh stop --home H` stops the `mesh start`
// holding H — gracefully (exit 0 of the node) — and reports it; the home
// is free afterwards. MESH_HOME names the home as well as --home.
func TestStopStopsTheNodeOnItsHome(t *testing.T) {
	for _, byEnv := range []bool{false, true} {
		home := t.TempDir()
		p := startProc(t, home)
		cmd := exec.Command(meshBin, "stop")
		if byEnv {
			cmd.Env = append(os.Environ(), "MESH_HOME="+home)
		} else {
			cmd.Args = append(cmd.Args, "--home", home)
		}
		out, err := cmd.CombinedOutput()
		want := "stopped the node on " + home + " (pid " + strconv.Itoa(p.cmd.Process.Pid) + ")"
		if err != nil || !strings.Contains(string(out), want) {
			t.Fatalf("mesh stop (env %v): %v, want %q:\n%s", byEnv, err, want, out)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("the node exited with %v, want a graceful 0", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("mesh stop returned but the node still runs")
		}
		if _, err := host.HomeHolder(home); !errors.Is(err, host.ErrNoNode) {
			t.Fatalf("home after stop: %v, want no node", err)
		}
	}
}

// TestStopRefusesAStalePid: a lock file naming a live process that does not
// hold the lock (a node that died; its pid reused) must not get that
// process signalled; no lock file at all is "no node" too.
func TestStopRefusesAStalePid(t *testing.T) {
	home := t.TempDir()
	if out, err := runStop(t, "--home", home); err == nil || !strings.Contains(out, "no node is running") {
		t.Fatalf("mesh stop on an empty home: %v\n%s", err, out)
	}
	bystander := exec.Command("sleep", "600")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = bystander.Wait(); close(exited) }()
	t.Cleanup(func() { _ = bystander.Process.Kill(); <-exited })
	pid := strconv.Itoa(bystander.Process.Pid)
	if err := os.WriteFile(filepath.Join(home, "mesh.lock"), []byte(pid+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runStop(t, "--home", home, "--timeout", "2s")
	if err == nil || !strings.Contains(out, "no node is running") || strings.Contains(out, pid) {
		t.Fatalf("mesh stop with a stale pid %s: %v\n%s", pid, err, out)
	}
	select {
	case <-exited:
		t.Fatalf("mesh stop signalled pid %s, which holds no lock", pid)
	default:
	}
}

// TestStopTimeoutAndForce: a node that ignores SIGTERM makes `mesh stop`
// fail after --timeout, naming what to do, and leaves it running; with
// --force it is killed and the home released.
func TestStopTimeoutAndForce(t *testing.T) {
	home := t.TempDir()
	holder := startHolder(t, home)
	pid := strconv.Itoa(holder.Process.Pid)
	out, err := runStop(t, "--home", home, "--timeout", "1s")
	if err == nil || !strings.Contains(out, "still running after 1s") || !strings.Contains(out, "--force") {
		t.Fatalf("mesh stop of a node ignoring SIGTERM: %v\n%s", err, out)
	}
	if got, err := host.HomeHolder(home); err != nil || strconv.Itoa(got) != pid {
		t.Fatalf("after a timed-out stop the holder should still run: %d %v", got, err)
	}
	out, err = runStop(t, "--home", home, "--timeout", "1s", "--force")
	if err != nil || !strings.Contains(out, "killed the node on "+home+" (pid "+pid+")") {
		t.Fatalf("mesh stop --force: %v\n%s", err, out)
	}
	if _, err := host.HomeHolder(home); !errors.Is(err, host.ErrNoNode) {
		t.Fatalf("home after stop --force: %v, want no node", err)
	}
}

// TestStopPermissionDenied: run as another user (nobody), `mesh stop`
// says permission denied both when it may not read the home's lock and
// when it may read it but not signal the node; the node keeps running.
func TestStopPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run mesh stop as another user")
	}
	dir, err := os.MkdirTemp("", "mesh-stop-perm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin, home := filepath.Join(dir, "mesh"), filepath.Join(dir, "home")
	data, err := os.ReadFile(meshBin)
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Mkdir(home, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755) // nobody reaches the binary and the home
	}
	if err != nil {
		t.Fatal(err)
	}
	holder := startHolder(t, home)
	asNobody := func() string {
		cmd := exec.Command(bin, "stop", "--home", home, "--timeout", "1s")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("mesh stop as nobody succeeded:\n%s", out)
		}
		return string(out)
	}
	if out := asNobody(); !strings.Contains(out, "permission denied") {
		t.Errorf("mesh stop as nobody on an unreadable lock: %s", out)
	}
	if err := os.Chmod(filepath.Join(home, "mesh.lock"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := asNobody(); !strings.Contains(out, "permission denied: the node on "+home) || !strings.Contains(out, "another user") {
		t.Errorf("mesh stop as nobody of root's node: %s", out)
	}
	if got, err := host.HomeHolder(home); err != nil || got != holder.Process.Pid {
		t.Fatalf("the node after refused stops: %d %v", got, err)
	}
}
