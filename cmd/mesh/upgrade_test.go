package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// upgradeRig is a node run from a binary path that the test replaces, as
// an operator installing a new version does.
type upgradeRig struct {
	t    *testing.T
	dir  string // the builds
	bin  string // the path the node runs from
	home string
	addr string // host:port of the data port
	// admin, when set, is the admin port's (--admin-listen): handed over
	// too, and where /stats is read.
	admin string
	log   string // the node's stderr, every process's
}

// buildVersion builds the mesh binary with version stamped into out.
func buildVersion(t *testing.T, out, version string) {
	t.Helper()
	if b, err := exec.Command("go", "build", "-ldflags", "-X main.version="+version, "-o", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", version, err, b)
	}
}

// start runs `mesh start` from r.bin, with extra flags, and waits until it
// serves.
func (r *upgradeRig) start(extra ...string) *exec.Cmd {
	t := r.t
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	if r.admin != "" {
		extra = append(extra, "--admin-listen", r.admin)
	}
	cmd := exec.Command(r.bin, append([]string{"start", "--home", r.home, "--listen", r.addr}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf // files: the successors write to them too
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stopAll(cmd) })
	meshtest.WaitFor(t, time.Minute, "the node to serve", func() bool { return r.stats().PID == cmd.Process.Pid })
	return cmd
}

// stopAll stops whichever process holds the home now, then reaps first.
func (r *upgradeRig) stopAll(first *exec.Cmd) {
	if pid, err := host.HomeHolder(r.home); err == nil {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if _, err := host.HomeHolder(r.home); errors.Is(err, host.ErrNoNode) {
				break
			}
			time.Sleep(50 * time.Millisecond) // cleanup only: the test is over
		}
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	if r.t.Failed() {
		b, _ := os.ReadFile(r.log)
		r.t.Logf("node log:\n%s", tail(string(b), 6000))
	}
}

// stats is the node's /stats; zero when it does not answer.
func (r *upgradeRig) stats() api.Stats {
	var reply struct {
		Content api.Stats `json:"content"`
	}
	resp, err := http.Get("http://" + cmp.Or(r.admin, r.addr) + "/stats")
	if err != nil {
		return reply.Content
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&reply)
	return reply.Content
}

// install puts the binary src at r.bin the way an installer does: a copy
// beside it, renamed over it (the running process keeps its own file).
func (r *upgradeRig) install(src string) {
	b, err := os.ReadFile(src)
	if err != nil {
		r.t.Fatal(err)
	}
	tmp := r.bin + ".new"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.bin); err != nil {
		r.t.Fatal(err)
	}
}

// awaitTakeover waits until a process other than old holds the home and
// serves, and returns its pid.
func (r *upgradeRig) awaitTakeover(old int) int {
	var pid int
	meshtest.WaitFor(r.t, 2*time.Minute, "the new process to serve", func() bool {
		p, err := host.HomeHolder(r.home)
		if err != nil || p == old {
			return false
		}
		pid = p
		return r.stats().PID == p
	})
	return pid
}

// callLog counts what the load's clients saw.
type callLog struct {
	mu       sync.Mutex
	failures []string
	maxPush  time.Duration
	retries  atomic.Int64 // calls a client resent on its own (HTTP: a second connection for one request; gRPC: transparent retries)
	dials    atomic.Int64 // new HTTP connections
}

func (l *callLog) fail(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 20 {
		l.failures = append(l.failures, fmt.Sprintf(format, a...))
	} else {
		l.failures[19] = "… and more"
	}
}

func (l *callLog) pushed(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxPush = max(l.maxPush, d)
}

// traced is ctx with a trace that counts l's retries and dials.
func (l *callLog) traced(ctx context.Context) context.Context {
	var conns atomic.Int32
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if conns.Add(1) > 1 {
				l.retries.Add(1)
			}
			if !i.Reused {
				l.dials.Add(1)
			}
		},
	})
}

// HandleRPC counts gRPC's transparent retries (stats.Handler).
func (l *callLog) HandleRPC(_ context.Context, s stats.RPCStats) {
	if b, ok := s.(*stats.Begin); ok && b.IsTransparentRetryAttempt {
		l.retries.Add(1)
	}
}
func (l *callLog) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (l *callLog) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (l *callLog) HandleConn(context.Context, stats.ConnStats)                       {}

// transports of the load: gRPC, HTTP/1 keep-alive, HTTP/1 a connection per
// call, HTTP/2 cleartext.
const (
	viaGRPC = iota
	viaKeepAlive
	viaNewConn
	viaH2C
)

// loadClient is a client of session over the transport via.
func loadClient(t *testing.T, l *callLog, addr, session string, via int) client.Client {
	if via == viaGRPC {
		cc, err := grpc.NewClient(addr, append(meshclient.GRPCDialOptions(nil, 1<<20), grpc.WithStatsHandler(l))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return client.NewGRPC(cc, session)
	}
	tr := &http.Transport{DisableKeepAlives: via == viaNewConn}
	if via == viaH2C {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &client.HTTP{URL: "http://" + addr, Session: session, Client: &http.Client{Transport: tr}}
}

// lane is one session's load: a pusher numbering its messages and a popper
// checking each arrives once.
type lane struct {
	id        int
	push, pop client.Client
	pushed    atomic.Int64
	seen      []int  // times each number was popped
	failed    []bool // pushes that failed (counted as failures, not as lost)
}

// upgradeLanes pairs pushing and popping transports so that each
// transport both pushes and pops across the upgrade.
var upgradeLanes = [][2]int{{viaGRPC, viaKeepAlive}, {viaKeepAlive, viaGRPC}, {viaKeepAlive, viaKeepAlive},
	{viaGRPC, viaGRPC}, {viaNewConn, viaH2C}, {viaH2C, viaNewConn}}

// Bounds of the load.
const (
	lanePace   = 3 * time.Millisecond // between one lane's pushes
	laneMax    = 20000                // pushes of one lane at most
	phasePush  = 150                  // pushes of each lane between upgrades
	popTimeout = 1000                 // ms
)

// pushLane pushes ln's numbered messages, one each lanePace, until stop
// (or laneMax).
func pushLane(ctx context.Context, l *callLog, ln *lane, stop <-chan struct{}, pushDone *sync.WaitGroup) {
	go func() {
		defer pushDone.Done()
		tick := time.NewTicker(lanePace)
		defer tick.Stop()
		for seq := 0; seq < laneMax; seq++ {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			start := time.Now()
			code, err := ln.push.Push(l.traced(ctx), "t", fmt.Appendf(nil, "lane%d-%06d", ln.id, seq))
			l.pushed(time.Since(start))
			if err != nil || code != ptp.OK {
				l.fail("lane %d push %d: %s %v", ln.id, seq, code, err)
				ln.failed[seq] = true // before pushed: the checks read it after
			}
			ln.pushed.Store(int64(seq + 1))
		}
	}()
}

// popLane pops ln's messages until, pushing over (done), every one pushed
// has come or none comes within popTimeout; or ctx ends.
func popLane(ctx context.Context, l *callLog, ln *lane, done <-chan struct{}) {
	got := int64(0)
	for ctx.Err() == nil {
		select {
		case <-done:
			if got >= ln.pushed.Load() {
				return
			}
		default:
		}
		payload, code, err := ln.pop.Pop(l.traced(ctx), "t", popTimeout)
		if err != nil || code != ptp.OK {
			l.fail("lane %d pop: %s %v", ln.id, code, err)
			continue
		}
		if len(payload) == 0 {
			select {
			case <-done: // pushing is over and nothing more comes: what is missing is lost
				return
			default:
				continue
			}
		}
		var id, seq int
		if _, err := fmt.Sscanf(string(payload), "lane%d-%06d", &id, &seq); err != nil || id != ln.id || seq >= laneMax {
			l.fail("lane %d popped %q", ln.id, payload)
			continue
		}
		ln.seen[seq]++
		got++
	}
}

// check reports the messages of ln popped other than once.
func (ln *lane) check(t *testing.T) {
	n := int(ln.pushed.Load())
	var lost, dup []int
	for seq := range n {
		switch ln.seen[seq] {
		case 1:
		case 0:
			if ln.failed[seq] {
				continue
			}
			lost = append(lost, seq)
		default:
			dup = append(dup, seq)
		}
	}
	if len(lost)+len(dup) > 0 {
		t.Errorf("lane %d: of %d pushed, lost %d %v, duplicated %d %v", ln.id, n, len(lost), head(lost), len(dup), head(dup))
	}
}

var upgradedRE = regexp.MustCompile(`pid (\d+) → (\d+), mesh (\S+), in (\S+)`)

// TestUpgradeUnderLoad replaces the binary of a running node twice while
// sessions push and pop over gRPC, HTTP/1 keep-alive, HTTP/1 without it and
// HTTP/2: once by SIGUSR2, once by `mesh upgrade`. Its admin port is handed
// over too (/stats is read there). No call may fail, every
// message pushed is popped exactly once, and each new process reports its
// new version.
func TestUpgradeUnderLoad(t *testing.T) {
	r := newRig(t)
	r.admin = freeAddr(t)
	v2, v3 := filepath.Join(r.dir, "mesh-v2"), filepath.Join(r.dir, "mesh-v3")
	buildVersion(t, v2, "v0.0.2-upgrade")
	buildVersion(t, v3, "v0.0.3-upgrade")
	first := r.start()
	p0 := first.Process.Pid

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	l := &callLog{}
	lanes := make([]*lane, len(upgradeLanes))
	stop := make(chan struct{})
	pushDone := make(chan struct{})
	var pushers, poppers sync.WaitGroup
	for i, via := range upgradeLanes {
		session := fmt.Sprintf("upgrade-%d", i)
		lanes[i] = &lane{id: i, seen: make([]int, laneMax), failed: make([]bool, laneMax), push: loadClient(t, l, r.addr, session, via[0]), pop: loadClient(t, l, r.addr, session, via[1])}
		pushers.Add(1)
		pushLane(ctx, l, lanes[i], stop, &pushers)
		poppers.Add(1)
		go func() { defer poppers.Done(); popLane(ctx, l, lanes[i], pushDone) }()
	}
	phase := func(what string) {
		floor := make([]int64, len(lanes))
		for i, ln := range lanes {
			floor[i] = ln.pushed.Load() + phasePush
		}
		meshtest.WaitFor(t, time.Minute, what, func() bool {
			for i, ln := range lanes {
				if ln.pushed.Load() < floor[i] {
					return false
				}
			}
			return true
		})
	}

	phase("load before the first upgrade")
	r.install(v2)
	begin := time.Now()
	if err := syscall.Kill(p0, upgradeSignal); err != nil {
		t.Fatal(err)
	}
	p1 := r.awaitTakeover(p0)
	bySignal := time.Since(begin)
	if err := first.Wait(); err != nil {
		t.Errorf("the old process exited with %v after handing over", err)
	}
	if v := r.stats().Version; v != "v0.0.2-upgrade" {
		t.Errorf("after SIGUSR2 the node runs version %q, want v0.0.2-upgrade", v)
	}

	phase("load between the upgrades")
	r.install(v3)
	out, err := exec.CommandContext(ctx, r.bin, "upgrade", "--home", r.home, "--addr", r.admin).CombinedOutput()
	m := upgradedRE.FindStringSubmatch(string(out))
	if err != nil || m == nil || m[1] != fmt.Sprint(p1) || m[3] != "v0.0.3-upgrade" {
		t.Fatalf("mesh upgrade: %v\n%s", err, out)
	}
	p2, _ := host.HomeHolder(r.home)
	if st := r.stats(); st.PID != p2 || fmt.Sprint(p2) != m[2] || st.Version != "v0.0.3-upgrade" {
		t.Errorf("after mesh upgrade /stats says pid %d version %q; the home is held by %d; mesh upgrade said %s", st.PID, st.Version, p2, m[0])
	}

	phase("load after the upgrades")
	close(stop)
	pushers.Wait()
	close(pushDone)
	poppers.Wait()

	total := int64(0)
	for _, ln := range lanes {
		ln.check(t)
		total += ln.pushed.Load()
	}
	if t.Failed() {
		st := r.stats()
		t.Logf("the node holds %d sessions, %d bytes", st.Sessions, st.HeldBytes)
	}
	if len(l.failures) > 0 {
		t.Errorf("%d calls failed across the upgrades:\n  %s", len(l.failures), strings.Join(l.failures, "\n  "))
	}
	if p0 == p1 || p1 == p2 || p0 == p2 {
		t.Errorf("pids %d → %d → %d: want three processes", p0, p1, p2)
	}
	t.Logf("%d messages pushed and popped over %d sessions; pids %d → %d → %d; upgrade by signal %s, by mesh upgrade %s; slowest push %s; client retries %d; new HTTP connections %d",
		total, len(lanes), p0, p1, p2, bySignal.Round(time.Millisecond), m[4], l.maxPush.Round(time.Millisecond), l.retries.Load(), l.dials.Load())
	b, _ := os.ReadFile(r.log)
	for _, line := range regexp.MustCompile(`.*(upgraded: the new process serves|let go of the home|left idle).*`).FindAllString(string(b), -1) {
		t.Log(line)
	}
}

// newRig is an upgradeRig in a fresh directory, the test's binary at its
// path.
func newRig(t *testing.T) *upgradeRig {
	dir := t.TempDir()
	r := &upgradeRig{t: t, dir: dir, bin: filepath.Join(dir, "run", "mesh"), home: filepath.Join(dir, "home"),
		addr: freeAddr(t), log: filepath.Join(dir, "node.log")}
	if err := os.MkdirAll(filepath.Dir(r.bin), 0o755); err != nil {
		t.Fatal(err)
	}
	r.install(meshBin)
	return r
}

// TestUpgradeRefusedKeepsServing: a node whose new binary cannot run, or
// that cannot hand its sockets over, says why in its log and serves on in
// the same process; mesh upgrade exits 1 saying the node still holds the
// home.
func TestUpgradeRefusedKeepsServing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		bin   string // installed over the node's path before the upgrade
		log   string // in the node's log
	}{
		{name: "broken binary", bin: "#!/bin/sh\necho cannot run >&2\nexit 3\n", log: "exit status 3"},
		{name: "nats client port", extra: []string{"--nats-listen", "127.0.0.1:0"}, log: "--nats-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			p := r.start(tc.extra...).Process.Pid
			if tc.bin != "" {
				tmp := filepath.Join(r.dir, "broken")
				if err := os.WriteFile(tmp, []byte(tc.bin), 0o755); err != nil {
					t.Fatal(err)
				}
				r.install(tmp)
			}
			out, err := exec.Command(meshBin, "upgrade", "--home", r.home, "--addr", r.addr, "--timeout", "3s").CombinedOutput()
			if err == nil || !strings.Contains(string(out), fmt.Sprintf("pid %d still holds", p)) {
				t.Fatalf("mesh upgrade of a node that cannot hand over: %v\n%s", err, out)
			}
			meshtest.WaitFor(t, time.Minute, "the refusal in the log", func() bool {
				b, _ := os.ReadFile(r.log)
				return regexp.MustCompile(`upgrade refused: this process serves on.*` + regexp.QuoteMeta(tc.log)).Match(b)
			})
			c := &client.HTTP{URL: "http://" + r.addr, Session: "after"}
			if code, err := c.Push(t.Context(), "t", []byte("still here")); err != nil || code != ptp.OK {
				t.Fatalf("push after the refused upgrade: %s %v", code, err)
			}
			if st := r.stats(); st.PID != p {
				t.Fatalf("/stats served by pid %d, want the original %d", st.PID, p)
			}
		})
	}
}
