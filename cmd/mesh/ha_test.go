package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The HA suite runs three replicas of one node as separate `mesh start`
// processes on loopback, once with their embedded NATS servers clustered
// and once against an external three-server NATS cluster (nats-server
// built from its Go module, run as three processes).

// replica is one `mesh start` process of the node. It binds port 0 for
// its API and its routes and reports the ports it got in its log, so no
// port is chosen before the process holds it.
type replica struct {
	name, home string
	listen     string // its API address, as its current run logged it
	routes     string // its embedded NATS's route address, as logged
	args       []string
	set        *replicaSet
	log        string // its standard error
	from       int64  // the log's size when the current run started
	cmd        *exec.Cmd
	done       chan error
}

// replicaSet is the node's replicas and, in the external mode, the NATS
// servers they share.
type replicaSet struct {
	reps     []*replica
	nats     []*natsServer // external mode only
	external bool
	seed     string // a route address the test holds, named by the first server
}

type natsServer struct {
	name, client, routes, log string
	cmd                       *exec.Cmd
}

// What the processes log once they hold their ports.
var (
	replicaListenRE = regexp.MustCompile(` listen=(\S+)`)
	replicaRoutesRE = regexp.MustCompile(` cluster_addr=(\S+)`)
	natsClientRE    = regexp.MustCompile(`Listening for client connections on (\S+)`)
	natsRoutesRE    = regexp.MustCompile(`Listening for route connections on (\S+)`)
)

// seedRoute holds a loopback listener for the test's life and returns its
// address. NATS runs JetStream clustered only with a route configured, and
// the first server of a set has no running peer to name: it names this
// listener, which closes every connection, and the others name it.
func seedRoute(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return l.Addr().String()
}

var (
	natsOnce sync.Once
	natsBin  string
	natsErr  error
)

// natsServerBin builds nats-server from the module this repository
// requires (Debian's is too old for the client).
func natsServerBin(t testing.TB) string {
	t.Helper()
	natsOnce.Do(func() {
		natsBin = filepath.Join(filepath.Dir(meshBin), "nats-server")
		out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsErr = fmt.Errorf("build nats-server: %v\n%s", err, out)
		}
	})
	if natsErr != nil {
		t.Fatal(natsErr)
	}
	return natsBin
}

// startReplicaSet starts three replicas, embedded-clustered or on an
// external NATS cluster, and waits until all are ready. Servers start one
// after another, each naming the route addresses of those already running
// (NATS gossips the rest).
func startReplicaSet(t testing.TB, external bool, extra ...string) *replicaSet {
	t.Helper()
	set := &replicaSet{external: external, seed: seedRoute(t)}
	var urls []string
	if external {
		for i := range 3 {
			s := set.startNATS(t, fmt.Sprintf("n%d", i+1))
			urls = append(urls, "nats://"+s.client)
		}
	}
	for i := range 3 {
		r := &replica{name: fmt.Sprintf("r%d", i+1), home: t.TempDir(), set: set}
		r.log = filepath.Join(r.home, "stderr.log")
		r.args = []string{"start", "--home", r.home, "--listen", "127.0.0.1:0", "--name", r.name}
		if external {
			r.args = append(r.args, "--nats-url", strings.Join(urls, ","))
		} else {
			// Each replica names only the peers already running, so the
			// cluster's size cannot say how many replicas to keep.
			r.args = append(r.args, "--cluster-listen", "127.0.0.1:0", "--replicas", "3")
		}
		r.args = append(r.args, extra...)
		set.reps = append(set.reps, r)
	}
	t.Cleanup(func() {
		for _, r := range set.reps {
			if t.Failed() {
				b, _ := os.ReadFile(r.log)
				t.Logf("%s stderr (tail):\n%s", r.name, tail(string(b), 3000))
			}
			r.kill(t)
		}
		for _, n := range set.nats {
			if t.Failed() {
				b, _ := os.ReadFile(n.log)
				t.Logf("nats-server %s (tail):\n%s", n.name, tail(string(b), 2000))
			}
		}
	})
	for _, r := range set.reps {
		r.start(t)
		if !external {
			r.routes = r.awaitLog(t, replicaRoutesRE, "its route address")
		}
	}
	for _, r := range set.reps {
		r.waitReady(t)
	}
	return set
}

// startNATS starts one external nats-server on ports of its choosing,
// routed to the servers already running, and waits until it logs its
// client and route addresses.
func (s *replicaSet) startNATS(t testing.TB, name string) *natsServer {
	t.Helper()
	var routes []string
	for _, n := range s.nats {
		routes = append(routes, "nats-route://"+n.routes)
	}
	if len(routes) == 0 {
		routes = []string{"nats-route://" + s.seed}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("server_name: %s\nlisten: \"127.0.0.1:-1\"\njetstream { store_dir: %q }\n"+
		"cluster { name: ext, listen: \"127.0.0.1:-1\", routes: [%s] }\n", name, filepath.Join(dir, "js"), `"`+strings.Join(routes, `", "`)+`"`)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &natsServer{name: name, log: filepath.Join(dir, "nats.log")}
	f, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(natsServerBin(t), "-c", conf)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	t.Cleanup(func() { _ = n.cmd.Process.Kill(); _ = n.cmd.Wait() })
	s.nats = append(s.nats, n)
	meshtest.WaitFor(t, 60*time.Second, "nats-server "+name+" to listen", func() bool {
		b, _ := os.ReadFile(n.log)
		if m := natsClientRE.FindSubmatch(b); m != nil {
			n.client = string(m[1])
		}
		if m := natsRoutesRE.FindSubmatch(b); m != nil {
			n.routes = string(m[1])
		}
		return n.client != "" && n.routes != ""
	})
	return n
}

// peerArgs names, for r's next start, the route addresses of the other
// replicas now running, or the seed when none runs.
func (s *replicaSet) peerArgs(r *replica) []string {
	if s == nil || s.external {
		return nil
	}
	var peers []string
	for _, o := range s.reps {
		if o != r && o.cmd != nil && o.routes != "" {
			peers = append(peers, o.routes)
		}
	}
	if len(peers) == 0 {
		peers = []string{s.seed}
	}
	return []string{"--cluster-peers", strings.Join(peers, ",")}
}

// addrs is every replica's API address, as a partner's route lists them.
func (s *replicaSet) addrs() string {
	var out []string
	for _, r := range s.reps {
		out = append(out, r.listen)
	}
	return strings.Join(out, ",")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// start runs the replica's process without waiting for it. Its addresses
// are unknown until the new run logs them (waitReady).
func (r *replica) start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r.from, r.listen = fi.Size(), ""
	r.cmd = exec.Command(meshBin, append(slices.Clone(r.args), r.set.peerArgs(r)...)...)
	r.cmd.Stderr = f
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait(); f.Close() }()
}

// logged is the first submatch of re in what r's current run logged, or "".
func (r *replica) logged(re *regexp.Regexp) string {
	b, err := os.ReadFile(r.log)
	if err != nil || int64(len(b)) < r.from {
		return ""
	}
	if m := re.FindSubmatch(b[r.from:]); m != nil {
		return string(m[1])
	}
	return ""
}

// exited fails the test if r's process has ended.
func (r *replica) exited(t testing.TB) {
	t.Helper()
	select {
	case err := <-r.done:
		b, _ := os.ReadFile(r.log)
		t.Fatalf("%s exited: %v\n%s", r.name, err, tail(string(b), 3000))
	default:
	}
}

// awaitLog waits until r's current run logs re and returns the submatch.
func (r *replica) awaitLog(t testing.TB, re *regexp.Regexp, what string) string {
	t.Helper()
	var got string
	meshtest.WaitFor(t, 60*time.Second, r.name+" to log "+what, func() bool {
		r.exited(t)
		got = r.logged(re)
		return got != ""
	})
	return got
}

func (r *replica) url() string { return "http://" + r.listen }

// ready reports whether /healthz answers 200.
func (r *replica) ready() bool {
	ok, _, err := health(context.Background(), &control{endpoint: &endpoint{addr: r.listen}, token: &secret{}})
	return err == nil && ok
}

// waitReady waits until r's current run logs the addresses it holds and
// answers ready there.
func (r *replica) waitReady(t testing.TB) {
	t.Helper()
	// Within the replicas' own --cluster-wait (2 min), on a loaded machine.
	meshtest.WaitFor(t, 150*time.Second, r.name+" ready", func() bool {
		r.exited(t)
		if r.listen == "" {
			r.listen = r.logged(replicaListenRE)
		}
		return r.listen != "" && r.ready()
	})
	if r.set != nil && !r.set.external {
		r.routes = r.logged(replicaRoutesRE)
	}
}

// kill ends the process with SIGKILL, as a crash would.
func (r *replica) kill(t testing.TB) {
	if r.cmd == nil || r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// stop ends the process with SIGTERM and says whether it stopped cleanly.
func (r *replica) stop() error {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.cmd = nil
		if err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM", r.name, err)
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s did not stop within 60s of SIGTERM", r.name)
	}
}

// clusterView is the cluster part of /stats.
type clusterView struct {
	Replica     string `json:"replica"`
	Replicas    int    `json:"replicas"`
	NATS        string `json:"nats"`
	QueueLeader string `json:"queue_leader"`
	Outbox      bool   `json:"outbox_lease"`
}

func (r *replica) cluster(t testing.TB) clusterView {
	t.Helper()
	var s struct {
		Cluster clusterView `json:"cluster"`
	}
	meshtest.Get(t, r.url()+"/stats").Decode(t, &s)
	return s.Cluster
}

func TestHAEmbeddedCluster(t *testing.T) { haSuite(t, false) }

func TestHAExternalNATS(t *testing.T) { haSuite(t, true) }

func haSuite(t *testing.T, external bool) {
	set := startReplicaSet(t, external)
	r1, r2, r3 := set.reps[0], set.reps[1], set.reps[2]
	if c := r1.cluster(t); c.Replicas != 3 || c.Replica != "r1" || (c.NATS == "external") != external {
		t.Fatalf("r1 sees its cluster as %+v", c)
	}
	t.Run("a change on one replica applies on all", func(t *testing.T) {
		if _, err := cli(t, r1.listen, "", "node", "refresh", "--node-id", "node-a", "--inst-id", "inst-a"); err != nil {
			t.Fatal(err)
		}
		meshtest.WaitFor(t, 10*time.Second, "r3 to take r1's identity", func() bool {
			var n nodeInfo
			cliJSON(t, r3.listen, &n, "node", "show")
			return n.NodeID == "node-a"
		})
		if _, err := cli(t, r2.listen, "", "net", "add", "node-x", "--inst", "inst-x", "--address", "127.0.0.1:9"); err != nil {
			t.Fatal(err)
		}
		meshtest.WaitFor(t, 10*time.Second, "r1 to list r2's route", func() bool {
			return routeTo(t, r1.listen, "node-x").NodeID == "node-x"
		})
		if _, err := cli(t, r3.listen, "", "plugin", "install", gzipPlugin(t), "--name", "squeeze"); err != nil {
			t.Fatal(err)
		}
		meshtest.WaitFor(t, 30*time.Second, "r1 to run r3's plugin", func() bool {
			out, err := cli(t, r1.listen, "", "plugin", "list")
			return err == nil && strings.Contains(out, "squeeze")
		})
	})
	t.Run("push through one replica, pop through another", func(t *testing.T) {
		a := &client.HTTP{URL: r1.url(), Session: "s1", Raw: true}
		b := &client.HTTP{URL: r2.url(), Session: "s1", Raw: true}
		// A blocking pop on r2 wakes when r1 stores a message: the pop is
		// seen waiting on r2 before the push, and answered well before its
		// own timeout (a pop only wakes on a notification, so a missed
		// cross-replica wake-up would run into that timeout).
		crossReplicaWake(t, r2, b, a)
		// gRPC too, and a 3 MiB message stored in chunks.
		big := make([]byte, 3<<20)
		for i := range big {
			big[i] = byte(i * 7)
		}
		cc1, cc3 := meshtest.Dial(t, r1.listen), meshtest.Dial(t, r3.listen)
		g1, g3 := client.NewGRPC(cc1, "s1"), client.NewGRPC(cc3, "s1")
		if code, err := g1.Push(t.Context(), "big", big); err != nil || code != ptp.OK {
			t.Fatalf("grpc push via r1: %s %v", code, err)
		}
		if p, code, err := g3.Pop(t.Context(), "big", 5000); err != nil || code != ptp.OK || string(p) != string(big) {
			t.Fatalf("grpc pop via r3: %d bytes %s %v", len(p), code, err)
		}
		// A peek and a release through other replicas.
		if code, _ := a.Push(t.Context(), "t", []byte("kept")); code != ptp.OK {
			t.Fatal(code)
		}
		c3 := &client.HTTP{URL: r3.url(), Session: "s1", Raw: true}
		if p, code, err := c3.Peek(t.Context(), "t"); err != nil || string(p) != "kept" {
			t.Fatalf("peek via r3: %q %s %v", p, code, err)
		}
		if code, err := b.Release(t.Context(), ""); err != nil || code != ptp.OK {
			t.Fatalf("release via r2: %s %v", code, err)
		}
		// r1 learns of the release through a KV watch, a moment later:
		// wait for it with peeks (which store nothing), then push.
		meshtest.WaitFor(t, 10*time.Second, "r1 to see the release via r2", func() bool {
			_, code, _ := a.Peek(t.Context(), "t")
			return code == ptp.SessionReleased
		})
		if code, _ := a.Push(t.Context(), "t", []byte("late")); code != ptp.SessionReleased {
			t.Fatalf("push via r1 after release via r2: %s", code)
		}
	})
	t.Run("concurrent pops through every replica hand each message once", func(t *testing.T) {
		const n = 600
		push := &client.HTTP{URL: r1.url(), Session: "race", Raw: true}
		for i := range n {
			if code, err := push.Push(t.Context(), "t", fmt.Appendf(nil, "m%d", i)); err != nil || code != ptp.OK {
				t.Fatalf("push %d: %s %v", i, code, err)
			}
		}
		seen := make(map[string]int)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 6 {
			c := &client.HTTP{URL: set.reps[i%3].url(), Session: "race", Raw: true}
			wg.Go(func() {
				for {
					p, code, err := c.Pop(t.Context(), "t", 500)
					if err != nil || code != ptp.OK {
						t.Errorf("pop: %s %v", code, err)
						return
					}
					if len(p) == 0 {
						return
					}
					mu.Lock()
					seen[string(p)]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("popped %d distinct messages of %d", len(seen), n)
		}
		for m, c := range seen {
			if c != 1 {
				t.Fatalf("%s popped %d times", m, c)
			}
		}
	})
	b := addrOf(startProc(t, t.TempDir())) // the partner, node-b, lives as long as the suite
	t.Run("a partner woven on replica 1 is usable through replica 3", func(t *testing.T) {
		if _, err := cli(t, b, "", "node", "refresh", "--node-id", "node-b", "--inst-id", "inst-b"); err != nil {
			t.Fatal(err)
		}
		if _, err := cli(t, r1.listen, "", "net", "add", "node-b", "--inst", "inst-b", "--address", b); err != nil {
			t.Fatal(err)
		}
		// The replicas took their ports at start, so none can advertise the
		// others': B's operator lists them all, and the weave keeps an
		// operator's address.
		if _, err := cli(t, b, "", "net", "add", "node-a", "--inst", "inst-a", "--address", set.addrs()); err != nil {
			t.Fatal(err)
		}
		var woven network.Route
		cliJSON(t, r1.listen, &woven, "net", "weave", "node-b")
		meshtest.WaitFor(t, 30*time.Second, "B to show node-a pending", func() bool {
			return routeTo(t, b, "node-a").State == network.StatePending
		})
		if got := routeTo(t, b, "node-a").Address; got != strings.Join([]string{r1.listen, r2.listen, r3.listen}, ",") {
			t.Fatalf("B knows node-a at %q, want every replica", got)
		}
		if _, err := cli(t, b, "", "net", "ack", "node-a", "--code", woven.Code); err != nil {
			t.Fatal(err)
		}
		if _, err := cli(t, r1.listen, "", "net", "ack", "node-b", "--code", routeTo(t, b, "node-a").Code); err != nil {
			t.Fatal(err) // both operators ack (issue 11)
		}
		meshtest.WaitFor(t, 30*time.Second, "r3 to see node-b woven", func() bool {
			return routeTo(t, r3.listen, "node-b").State == network.StateWoven
		})
		if out, err := cli(t, r3.listen, "", "chan", "push", "--session", "job", "--target", "node-b", "t", "from-r3"); err != nil || out != "delivered to node-b\n" {
			t.Fatalf("push to B via r3: %q %v", out, err)
		}
		if out, err := cli(t, b, "", "chan", "pop", "--session", "job", "t"); err != nil || out != "from-r3" {
			t.Fatalf("pop at B: %q %v", out, err)
		}
		if _, err := cli(t, b, "", "chan", "push", "--session", "job", "--target", "node-a", "back", "from-b"); err != nil {
			t.Fatal(err)
		}
		if out, err := cli(t, r2.listen, "", "chan", "pop", "--session", "job", "back"); err != nil || out != "from-b" {
			t.Fatalf("pop at A via r2: %q %v", out, err)
		}
	})
	t.Run("a graceful stop loses and duplicates nothing", func(t *testing.T) {
		res := flow(t, set, flowPlan{session: "graceful", n: 3000, victim: r2, at: 1000, crash: false})
		res.check(t)
		r2.start(t)
		r2.waitReady(t)
		// r2 came back on a new port: B's operator lists it again.
		if _, err := cli(t, b, "", "net", "add", "node-a", "--address", set.addrs()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kill -9 of a replica while 20,000 messages flow", func(t *testing.T) {
		victim := r1
		if !external {
			// Kill the replica whose server leads the queue stream, so
			// that the queues fail over to a new leader.
			leader := r1.cluster(t).QueueLeader
			for _, r := range set.reps {
				if r.name == leader {
					victim = r
				}
			}
		}
		plan := flowPlan{session: "crash", n: 20000, victim: victim, at: 5000, crash: true}
		if external {
			plan.natsVictim = set.leaderServer(t, r2)
		}
		res := flow(t, set, plan)
		res.check(t)
		t.Logf("kill -9 of %s after %d acknowledged pushes: %d pushes retried, all %d popped once, %s",
			victim.name, plan.at, res.retried.Load(), plan.n, res.took.Round(time.Millisecond))
		// B still reaches node-a, now through the survivors.
		if _, err := cli(t, b, "", "chan", "push", "--session", "job", "--target", "node-a", "back", "after-kill"); err != nil {
			t.Fatal(err)
		}
		for _, r := range set.reps {
			if r != victim {
				if out, err := cli(t, r.listen, "", "chan", "pop", "--session", "job", "back"); err != nil || out != "after-kill" {
					t.Fatalf("pop at A via %s: %q %v", r.name, out, err)
				}
				break
			}
		}
	})
}

// crossReplicaWake pops topic "t" through popper (on replica r) while
// nothing is queued, waits until r counts the pop as waiting, pushes through
// pusher (another replica) and asserts that the pop answers with the
// message within wakeBound, far below the pop's own timeout.
func crossReplicaWake(t *testing.T, r *replica, popper, pusher *client.HTTP) {
	t.Helper()
	const popTimeout, wakeBound = 60 * time.Second, 10 * time.Second
	before := waitingPops(t, r)
	type popped struct {
		p    []byte
		code ptp.Code
		err  error
		at   time.Time
	}
	got := make(chan popped, 1)
	go func() {
		p, code, err := popper.Pop(t.Context(), "t", int(popTimeout.Milliseconds()))
		got <- popped{p, code, err, time.Now()}
	}()
	meshtest.WaitFor(t, 20*time.Second, "the pop to wait on "+r.name, func() bool {
		select {
		case g := <-got:
			t.Fatalf("pop via %s answered before any push: %q %s %v", r.name, g.p, g.code, g.err)
		default:
		}
		return waitingPops(t, r) > before
	})
	pushed := time.Now()
	if code, err := pusher.Push(t.Context(), "t", []byte("hello")); err != nil || code != ptp.OK {
		t.Fatalf("push via %s: %s %v", pusher.URL, code, err)
	}
	select {
	case g := <-got:
		if g.err != nil || g.code != ptp.OK || string(g.p) != "hello" {
			t.Fatalf("pop via %s: %q %s %v", r.name, g.p, g.code, g.err)
		}
		if took := g.at.Sub(pushed); took > wakeBound {
			t.Fatalf("pop via %s woke %s after the push, want < %s", r.name, took, wakeBound)
		}
	case <-time.After(wakeBound):
		t.Fatalf("pop via %s not woken within %s of a push via %s", r.name, wakeBound, pusher.URL)
	}
}

// waitingPops is the count of pops waiting on r, from its /stats.
func waitingPops(t *testing.T, r *replica) int64 {
	t.Helper()
	var s struct {
		Waiting int64 `json:"waiting_pops"`
	}
	meshtest.Get(t, r.url()+"/stats").Decode(t, &s)
	return s.Waiting
}

// leaderServer is the external NATS server leading the queue stream, as
// replica r sees it.
func (s *replicaSet) leaderServer(t *testing.T, r *replica) *natsServer {
	t.Helper()
	leader := r.cluster(t).QueueLeader
	for _, n := range s.nats {
		if n.name == leader {
			return n
		}
	}
	t.Fatalf("no server named %q leads the queues", leader)
	return nil
}

// gzipPlugin builds the built-in gzip codec and returns its path.
func gzipPlugin(t *testing.T) string {
	t.Helper()
	path, _ := plugintest.BuildBytes(t, "plugins/gzip")
	return path
}

// flowPlan is a run of messages through the replicas while one of them
// stops.
type flowPlan struct {
	session    string
	n          int      // messages
	victim     *replica // stopped after at acknowledged pushes
	at         int
	crash      bool        // SIGKILL; else SIGTERM
	natsVictim *natsServer // also killed (external NATS)
}

type flowResult struct {
	plan    flowPlan
	acked   []bool
	popped  map[int]int
	retried atomic.Int64
	took    time.Duration
	err     error
}

// The flow's messages go to topics: message i to topic i mod topics. Each
// topic has consumersPerTopic consumers, spread over the survivors, so that
// pops of one message race across replicas while the stream leader dies
// (a pop whose delete answer is lost then cannot tell its own delete from
// another's; queue.settle decides, and each message is still popped once).
const (
	topics            = 2
	consumersPerTopic = 2
	consumers         = topics * consumersPerTopic
)

func topicOf(i int) string { return "t" + strconv.Itoa(i%topics) }

// flow pushes plan.n messages through every replica (each producer moves
// to the next replica and retries, with the same message id, when a push
// fails) and pops them through the replicas other than the victim, until
// every acknowledged push is popped or two minutes pass.
func flow(t *testing.T, set *replicaSet, plan flowPlan) *flowResult {
	t.Helper()
	res := &flowResult{plan: plan, acked: make([]bool, plan.n), popped: make(map[int]int)}
	var nacked atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	hc := &http.Client{Timeout: 30 * time.Second}
	const producers = 4
	var stopped sync.WaitGroup
	stopVictim := func() {
		stopped.Go(func() {
			if plan.natsVictim != nil {
				_ = plan.natsVictim.cmd.Process.Kill()
			}
			if plan.crash {
				plan.victim.kill(t)
			} else if err := plan.victim.stop(); err != nil {
				mu.Lock()
				res.err = err
				mu.Unlock()
			}
		})
	}
	var pwg sync.WaitGroup
	for p := range producers {
		pwg.Go(func() {
			c := &client.HTTP{Session: plan.session, Raw: true, Client: hc, Headers: map[string]string{}}
			at := p
			for i := p; i < plan.n; i += producers {
				payload := strconv.Itoa(i)
				c.Headers[ptp.HeaderMessageID] = "m" + payload
				for {
					if time.Now().After(deadline) {
						return
					}
					c.URL = set.reps[at%3].url()
					code, err := c.Push(t.Context(), topicOf(i), []byte(payload))
					if err == nil && code == ptp.OK {
						break
					}
					res.retried.Add(1)
					at++
					time.Sleep(20 * time.Millisecond)
				}
				mu.Lock()
				res.acked[i] = true
				mu.Unlock()
				if nacked.Add(1) == int64(plan.at) {
					stopVictim()
				}
			}
		})
	}
	var survivors []*replica
	for _, r := range set.reps {
		if r != plan.victim {
			survivors = append(survivors, r)
		}
	}
	var produced atomic.Bool
	var cwg sync.WaitGroup
	for cn := range consumers {
		cwg.Go(func() {
			// Consumer cn pops topic cn mod topics on survivor cn/topics:
			// every topic has a consumer on each survivor.
			c := &client.HTTP{URL: survivors[(cn/topics)%len(survivors)].url(), Session: plan.session, Raw: true, Client: hc}
			for time.Now().Before(deadline) {
				p, code, err := c.Pop(t.Context(), topicOf(cn), 1000)
				if err != nil || code != ptp.OK {
					time.Sleep(20 * time.Millisecond) // a survivor between leaders: try again
					continue
				}
				if len(p) == 0 {
					if produced.Load() {
						mu.Lock()
						done := len(res.popped) >= int(nacked.Load())
						mu.Unlock()
						if done {
							return
						}
					}
					continue
				}
				i, err := strconv.Atoi(string(p))
				mu.Lock()
				if err != nil || i < 0 || i >= plan.n {
					res.err = fmt.Errorf("popped a message nobody pushed: %q", p)
				} else {
					res.popped[i]++
				}
				mu.Unlock()
			}
		})
	}
	pwg.Wait()
	produced.Store(true)
	cwg.Wait()
	stopped.Wait()
	res.took = time.Since(start)
	return res
}

// check asserts that every push was acknowledged (producers retry until it
// is) and popped, and none twice.
func (r *flowResult) check(t *testing.T) {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	var lost, unacked, twice []int
	for i, ok := range r.acked {
		if !ok {
			unacked = append(unacked, i)
		}
		if ok && r.popped[i] == 0 {
			lost = append(lost, i)
		}
		if r.popped[i] > 1 {
			twice = append(twice, i)
		}
	}
	if len(lost) > 0 || len(twice) > 0 || len(unacked) > 0 {
		t.Fatalf("%d acknowledged pushes lost (e.g. %v), %d popped twice (e.g. %v), %d never acknowledged",
			len(lost), head(lost), len(twice), head(twice), len(unacked))
	}
}

func head(s []int) []int { return s[:min(len(s), 5)] }
