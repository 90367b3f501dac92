package host_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// clients returns one container client per transport for session.
func clients(t *testing.T, n *meshtest.Node, session string) map[string]meshtest.Client {
	cc := meshtest.Dial(t, n.Addr)
	return map[string]meshtest.Client{
		"grpc":      meshtest.NewGRPCClient(cc, session),
		"http-json": &meshtest.HTTPClient{URL: n.URL, Session: session},
		"http-raw":  &meshtest.HTTPClient{URL: n.URL, Session: session, Raw: true},
	}
}

func mustPush(t testing.TB, c meshtest.Client, topic string, p []byte) {
	t.Helper()
	code, err := c.Push(t.Context(), topic, p)
	if err != nil || code != ptp.OK {
		t.Fatalf("push %s: %s %v", topic, code, err)
	}
}

func mustPop(t testing.TB, c meshtest.Client, topic string) []byte {
	t.Helper()
	p, code, err := c.Pop(t.Context(), topic, 5000)
	if err != nil || code != ptp.OK {
		t.Fatalf("pop %s: %s %v", topic, code, err)
	}
	return p
}

func TestFIFOOverEachTransport(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for name, c := range clients(t, n, "fifo") {
		t.Run(name, func(t *testing.T) {
			for i := range 1000 {
				mustPush(t, c, name, fmt.Appendf(nil, "msg-%04d", i))
			}
			for i := range 1000 {
				if got, want := mustPop(t, c, name), fmt.Sprintf("msg-%04d", i); string(got) != want {
					t.Fatalf("pop #%d: got %q want %q", i, got, want)
				}
			}
		})
	}
}

func TestTopicAndSessionIsolation(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	s1, s2 := meshtest.NewGRPCClient(cc, "s1"), &meshtest.HTTPClient{URL: n.URL, Session: "s2"}
	mustPush(t, s1, "a", []byte("s1-a"))
	mustPush(t, s1, "b", []byte("s1-b"))
	mustPush(t, s2, "a", []byte("s2-a"))
	for _, c := range []struct {
		c     meshtest.Client
		topic string
		want  string
	}{{s2, "a", "s2-a"}, {s1, "b", "s1-b"}, {s1, "a", "s1-a"}} {
		if got := mustPop(t, c.c, c.topic); string(got) != c.want {
			t.Fatalf("got %q want %q", got, c.want)
		}
	}
}

func TestPopOnEmptyQueueReturnsEmptyAfterTimeout(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for name, c := range clients(t, n, "empty") {
		start := time.Now()
		p, code, err := c.Pop(t.Context(), "nothing", 50)
		if err != nil || code != ptp.OK || len(p) != 0 {
			t.Fatalf("%s: got %q %s %v", name, p, code, err)
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("%s: the pop answered after %v, before its 50 ms timeout", name, d)
		}
	}
}

func TestPeekDoesNotRemoveAndReleaseDrops(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	h := meshtest.Session("peek")
	meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("one")})
	for range 3 {
		if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/peek", h, map[string]any{"topic": "t"}); string(r.Bytes()) != "one" {
			t.Fatalf("peek: %+v", r)
		}
	}
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/release", h, map[string]any{"topic": "t"}); r.Code != ptp.OK {
		t.Fatalf("release topic: %+v", r)
	}
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/peek", h, map[string]any{"topic": "t"}); r.Code != ptp.OK || r.Bytes() != nil {
		t.Fatalf("peek after topic release: %+v", r)
	}
	// A topic release leaves the session usable; a session release does not.
	meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("two")})
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/release", h, map[string]any{}); r.Code != ptp.OK {
		t.Fatalf("release session: %+v", r)
	}
	for _, path := range []string{"push", "pop"} {
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/"+path, h, map[string]any{"topic": "t", "payload": []byte("x"), "timeout": 10})
		if r.Code != ptp.SessionReleased || r.Status != 410 {
			t.Fatalf("%s after session release: %+v", path, r)
		}
	}
}

func TestLargePayloadRoundTrips(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	big := make([]byte, 64<<20)
	_, _ = rand.Read(big)
	cs := clients(t, n, "big")
	// JSON's own risk is the base64 path, which a payload of three stored
	// pieces (the last partial), over gRPC's default 4 MiB, covers as well
	// as 64 MiB does, in an eighth of the time.
	sizes := map[string]int{"grpc": 64 << 20, "http-raw": 64 << 20, "http-json": 2*(4<<20) + 1}
	for _, name := range []string{"grpc", "http-raw", "http-json"} {
		t.Run(name, func(t *testing.T) {
			p := big[:sizes[name]]
			mustPush(t, cs[name], "big", p)
			if got := mustPop(t, cs[name], "big"); !bytes.Equal(got, p) {
				t.Fatalf("%d-byte payload changed in transit (got %d bytes)", len(p), len(got))
			}
		})
	}
}

func TestEveryByteValueAndEmptyPayload(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for name, c := range clients(t, n, "bytes") {
		mustPush(t, c, name, all)
		mustPush(t, c, name, []byte{})
		if got := mustPop(t, c, name); !bytes.Equal(got, all) {
			t.Fatalf("%s: 256 byte values came back as %v", name, got)
		}
		// The empty message is a message: it is popped at once.
		if got := mustPop(t, c, name); len(got) != 0 {
			t.Fatalf("%s: empty payload came back as %q", name, got)
		}
	}
}

func TestConcurrentProducersAndConsumers(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	const pairs, per = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*pairs)
	for i := range pairs {
		var c meshtest.Client = meshtest.NewGRPCClient(cc, "conc")
		if i%2 == 1 {
			c = &meshtest.HTTPClient{URL: n.URL, Session: "conc"}
		}
		topic := fmt.Sprintf("topic-%d", i)
		wg.Go(func() {
			for j := range per {
				if code, err := c.Push(t.Context(), topic, fmt.Appendf(nil, "%s/%d", topic, j)); err != nil || code != ptp.OK {
					errs <- fmt.Errorf("push %s/%d: %s %v", topic, j, code, err)
					return
				}
			}
		})
		wg.Go(func() {
			for j := range per {
				p, code, err := c.Pop(t.Context(), topic, 10000)
				if err != nil || code != ptp.OK {
					errs <- fmt.Errorf("pop %s: %s %v", topic, code, err)
					return
				}
				if want := fmt.Sprintf("%s/%d", topic, j); string(p) != want {
					errs <- fmt.Errorf("pop %s: got %q want %q (lost, duplicated or reordered)", topic, p, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, c := range clients(t, n, "conc") {
		if p, code, err := c.Pop(t.Context(), "topic-0", 1); err != nil || code != ptp.OK || len(p) != 0 {
			t.Fatalf("%s: extra message %q (%s %v) after all were popped", name, p, code, err)
		}
	}
}

func TestBlockedPopReturnsOnShutdown(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	c := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "s")
	type popAnswer struct {
		p    []byte
		code ptp.Code
		err  error
	}
	done := make(chan popAnswer, 1)
	go func() {
		p, code, err := c.Pop(t.Context(), "t", 600000)
		done <- popAnswer{p, code, err}
	}()
	meshtest.WaitFor(t, 10*time.Second, "the pop to block", func() bool { return n.Host.Stats().Waiting == 1 })
	n.Stop(t)
	// The README: "A pop blocked when the node stops returns empty at once
	// and takes nothing" — an empty success, not a broken call.
	if a := <-done; a.err != nil || a.code != ptp.OK || len(a.p) != 0 {
		t.Fatalf("blocked pop on shutdown answered %q %s %v, want an empty %s", a.p, a.code, a.err, ptp.OK)
	}
}

func TestIdentityPersistsAndNeverShowsAKey(t *testing.T) {
	home := t.TempDir()
	n := meshtest.Start(t, host.Config{Home: home})
	r := meshtest.Post(t, n.URL, "/v1/interconn/node/refresh", nil,
		map[string]any{"version": "1.0", "node_id": "JG0100001100000000", "inst_id": "JG01", "inst_name": "Bank A"})
	if r.Code != ptp.OK {
		t.Fatalf("refresh: %+v", r)
	}
	assertNoPrivateKey(t, r.Body)
	pub := getNode(t, n.URL)
	n.Stop(t)

	n2 := meshtest.Start(t, host.Config{Home: home, Listen: n.Addr}) // same port: same advertised address
	again := getNode(t, n2.URL)
	if again != pub {
		t.Fatalf("identity changed across restart:\n%s\n%s", pub, again)
	}
	for _, want := range []string{"JG0100001100000000", "Bank A", "BEGIN CERTIFICATE"} {
		if !bytes.Contains([]byte(again), []byte(want)) {
			t.Fatalf("node info lacks %q: %s", want, again)
		}
	}
}

func getNode(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpGet(url + "/v1/interconn/node")
	if err != nil {
		t.Fatal(err)
	}
	assertNoPrivateKey(t, resp)
	return resp
}

func TestStatsAndHealth(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, path := range []string{"/stats", "/healthz"} {
		if r := meshtest.Get(t, n.URL+path); r.Status != 200 || r.Code != ptp.OK {
			t.Fatalf("%s of a serving node: %d %s", path, r.Status, r.Body)
		}
	}
	var h struct{ Ready bool }
	if meshtest.Get(t, n.URL+"/healthz").Decode(t, &h); !h.Ready {
		t.Fatal("/healthz of a serving node: not ready")
	}
}

// TestProbesFailWhileTheStoreIsDown: the node's NATS server stops serving
// JetStream (the connection stays up); both probes answer 503 with the
// reason, so that a probe on either takes the node out of service.
func TestProbesFailWhileTheStoreIsDown(t *testing.T) {
	srv := startNATS(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	n := meshtest.Start(t, host.Config{NATSURL: srv.ClientURL(), ShutdownTimeout: 2 * time.Second})
	expectProbes(t, n, 200, ptp.OK)
	if err := srv.DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	expectProbes(t, n, 503, ptp.SystemError)
}

// startNATS runs a NATS server with opts until the test ends.
func startNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return srv
}

// expectProbes waits until /healthz and /stats both answer status with
// code, and checks that a failing probe says why.
func expectProbes(t *testing.T, n *meshtest.Node, status int, code ptp.Code) {
	t.Helper()
	for _, path := range []string{"/healthz", "/stats"} {
		var r meshtest.Reply
		meshtest.WaitFor(t, 20*time.Second, fmt.Sprintf("%s to answer %d", path, status), func() bool {
			r = meshtest.Get(t, n.URL+path)
			return r.Status == status
		})
		if r.Code != code {
			t.Fatalf("%s answered %d with %s", path, status, r.Body)
		}
		var h struct {
			Ready  bool
			Reason string
		}
		if r.Decode(t, &h); status != 200 && (h.Ready || h.Reason == "") {
			t.Fatalf("%s of a node that cannot serve does not say why: %s", path, r.Body)
		}
	}
}

// TestBlockedPopNeverDelaysOtherCalls holds pops blocked on every transport,
// including on the same gRPC connection, while other calls go through.
func TestBlockedPopNeverDelaysOtherCalls(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cs := clients(t, n, "blocked")
	for name, c := range cs {
		go func() { _, _, _ = c.Pop(t.Context(), "never-"+name, 120000) }()
	}
	meshtest.WaitFor(t, 10*time.Second, "three blocked pops", func() bool { return n.Host.Stats().Waiting == 3 })
	for name, c := range cs {
		for i := range 50 {
			mustPush(t, c, "busy", fmt.Appendf(nil, "%d", i))
			if got := mustPop(t, c, "busy"); string(got) != fmt.Sprint(i) {
				t.Fatalf("%s: got %q", name, got)
			}
		}
	}
	if w := n.Host.Stats().Waiting; w != 3 {
		t.Fatalf("%d pops waiting, want the 3 blocked ones", w)
	}
}

// TestSenderChosenMessageIDDeduplicates: a sender retrying a push with the
// same x-mesh-message-id gets one message in the queue.
func TestSenderChosenMessageIDDeduplicates(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	h := meshtest.Session("dedupe", ptp.HeaderMessageID, "job-7/part-3")
	for range 3 {
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("once")})
		if r.Code != ptp.OK || r.Metadata[ptp.HeaderMessageID] != "job-7/part-3" {
			t.Fatalf("push: %+v", r)
		}
	}
	c := &meshtest.HTTPClient{URL: n.URL, Session: "dedupe"}
	if got := mustPop(t, c, "t"); string(got) != "once" {
		t.Fatalf("got %q", got)
	}
	if p, code, err := c.Pop(t.Context(), "t", 50); err != nil || code != ptp.OK || len(p) != 0 {
		t.Fatalf("retried push stored twice: %q %s %v", p, code, err)
	}
}

// TestNoEndpointRevealsAPrivateKey calls every endpoint of a node that has an
// identity, including with operator-supplied root material, and checks that
// no reply carries a private key.
func TestNoEndpointRevealsAPrivateKey(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	root, err := pki.NewRoot("operator root")
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	post := func(path string, h map[string]string, body any) {
		bodies = append(bodies, meshtest.Post(t, n.URL, path, h, body).Body)
	}
	post("/v1/interconn/node/refresh", nil, map[string]any{"node_id": "n1", "inst_id": "i1"})
	post("/v1/interconn/node/refresh", nil, map[string]any{"node_id": "n1", "root_crt": string(root.CertPEM), "root_key": string(root.KeyPEM)})
	post("/v1/interconn/node/refresh", nil, map[string]any{"node_id": "n1", "root_crt": string(root.CertPEM), "root_key": "junk"})
	s := meshtest.Session("keys")
	for _, m := range []string{"push", "peek", "pop", "release", "nope"} {
		post("/v1/interconn/chan/"+m, s, map[string]any{"topic": "t", "payload": []byte("x")})
	}
	post("/v1/interconn/chan/invoke", meshtest.Session("keys", ptp.HeaderURI, "/v1/interconn/chan/peek"), map[string]any{"topic": "t"})
	for _, path := range []string{"/v1/interconn/node", "/stats", "/healthz"} {
		b, err := httpGet(n.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	var info struct {
		Content struct {
			RootCrt string `json:"root_crt"`
		} `json:"content"`
	}
	if err := json.Unmarshal([]byte(bodies[len(bodies)-3]), &info); err != nil || info.Content.RootCrt != string(root.CertPEM) {
		t.Fatalf("the operator's root was not taken: %v %s", err, bodies[len(bodies)-3])
	}
	if !strings.Contains(bodies[2], string(ptp.CertificateError)) {
		t.Fatalf("a root key that does not parse was accepted: %s", bodies[2])
	}
	for _, b := range bodies {
		assertNoPrivateKey(t, b)
	}
}
