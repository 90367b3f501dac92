package host_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Attacks on the weave handshake (issue 11, findings 1 and 2), each against
// real nodes on loopback.

// forger is a party outside the network: a root of its own and a
// certificate it issued for whatever node id it claims.
type forger struct {
	id      string
	rootPEM string
	rootDER []byte
	cert    tls.Certificate
}

func newForger(t testing.TB, id string) *forger {
	t.Helper()
	root, err := pki.NewRoot(id)
	if err != nil {
		t.Fatal(err)
	}
	return forgerUnder(t, root, id)
}

// forgerUnder is a forger for node id whose certificate root issued.
func forgerUnder(t testing.TB, root pki.KeyPair, id string) *forger {
	t.Helper()
	kp, err := pki.Issue(root, id, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(root.CertPEM)
	return &forger{id: id, rootPEM: string(root.CertPEM), rootDER: blk.Bytes, cert: cert}
}

// client is an HTTPS client that presents f's certificate (none when bare)
// and dials from the local IP address when one is given.
func (f *forger) client(local string, bare bool) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true}
	if !bare {
		cfg.Certificates = []tls.Certificate{f.cert}
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, DialContext: d.DialContext, DisableKeepAlives: true}}
}

// hello is f's hello to target, committing to a fresh nonce.
func (f *forger) hello(target, address string) (network.Hello, []byte) {
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	return network.Hello{NodeID: f.id, RootCrt: f.rootPEM, Address: address, Target: target,
		Commit: hex.EncodeToString(network.Commitment(f.id, f.rootDER, nonce))}, nonce
}

// answer is a PTP reply.
type answer struct {
	Code    ptp.Code        `json:"code"`
	Message string          `json:"message"`
	Content json.RawMessage `json:"content"`
}

// call posts body as JSON to url with c and returns the PTP reply.
func call(t testing.TB, c *http.Client, url string, body any) answer {
	t.Helper()
	a, err := try(c, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// try is call for goroutines other than the test's own.
func try(c *http.Client, url string, body any) (answer, error) {
	b, _ := json.Marshal(body)
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return answer{}, fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var a answer
	if err := json.Unmarshal(data, &a); err != nil || a.Code == "" {
		return answer{}, fmt.Errorf("post %s: reply %d is not PTP: %.300q", url, resp.StatusCode, data)
	}
	return a, nil
}

func hsURL(n *meshtest.Node, step string) string {
	return "https://" + n.Addr + "/v1/interconn/net/" + step
}

// uniformRefusal is the one answer to a hello an existing route refuses.
const uniformRefusal = "handshake refused: ask this node's operator"

// trap is a TLS listener under a forger's certificate that counts every
// connection made to it: where an attacker would like traffic to go.
type trap struct {
	addr  string
	conns atomic.Int64
}

func newTrap(t testing.TB, f *forger) *trap {
	t.Helper()
	tr := &trap{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{f.cert}}
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tr.conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr.addr = srv.Listener.Addr().String()
	return tr
}

// TestHijackByStrangerRefused is finding 1 end to end: a stranger's hello
// for node-d, plaintext, without a certificate or proven under its own
// root, cannot move A's route to node-d; A's operator then weaves the real
// node-d, and the stranger never sees a byte.
func TestHijackByStrangerRefused(t *testing.T) {
	a, d := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	d.Identify(t, "node-d", "inst-d")
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-d", "inst_id": "inst-d", "address": d.Addr}, ptp.OK)
	x := newForger(t, "node-d")
	tr := newTrap(t, x)
	h, nonce := x.hello("node-a", tr.addr)

	if r := call(t, http.DefaultClient, a.URL+"/v1/interconn/net/hello", h); r.Code != ptp.CertificateError || !strings.Contains(r.Message, "TLS") {
		t.Fatalf("plaintext hello: %s %s", r.Code, r.Message)
	}
	if r := call(t, x.client("", true), hsURL(a, "hello"), h); r.Code != ptp.CertificateError {
		t.Fatalf("hello without a certificate: %s %s", r.Code, r.Message)
	}
	if rt := a.Route(t, "node-d"); rt.State != "new" || rt.Address != d.Addr || rt.Root != "" {
		t.Fatalf("after refused hellos A's route is %+v", rt)
	}
	// Proven under its own root, the hello may offer a candidate root to the
	// route A's operator made, never move its address.
	if r := call(t, x.client("", false), hsURL(a, "hello"), h); r.Code != ptp.OK {
		t.Fatalf("proven hello: %s %s", r.Code, r.Message)
	}
	call(t, x.client("", false), hsURL(a, "reveal"), network.Reveal{NodeID: "node-d", Nonce: hex.EncodeToString(nonce)})
	if rt := a.Route(t, "node-d"); rt.Address != d.Addr || rt.State == "woven" || rt.InstID != "inst-d" {
		t.Fatalf("the stranger changed A's route: %+v (node-d is at %s)", rt, d.Addr)
	}

	meshtest.Weave(t, a, d, nil)
	if rt, want := a.Route(t, "node-d"), d.Public(t).RootCrt; rt.Root != want || rt.Address != d.Addr {
		t.Fatalf("A's route after weaving node-d: %+v", rt)
	}
	push := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-d"}
	if code, err := push.Push(t.Context(), "t", []byte("for node-d")); code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	got, code, err := (&meshtest.HTTPClient{URL: d.URL, Session: "s"}).Pop(t.Context(), "t", 5000)
	if code != ptp.OK || string(got) != "for node-d" {
		t.Fatalf("pop at the real node-d: %q %s %v", got, code, err)
	}
	h2, _ := x.hello("node-a", tr.addr)
	if r := call(t, x.client("", false), hsURL(a, "hello"), h2); r.Code != ptp.NotPermitted || r.Message != uniformRefusal {
		t.Fatalf("hello for a woven route: %s %s", r.Code, r.Message)
	}
	if n := tr.conns.Load(); n != 0 {
		t.Fatalf("the stranger's address got %d connections", n)
	}
}

// TestMidHandshakeReplacementRefused: while A's handshake with B awaits
// the acks, a stranger's proven hello for node-a cannot replace A's root at
// B, and the weave completes.
func TestMidHandshakeReplacementRefused(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": b.Addr}, ptp.OK)
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK)
	before := b.Route(t, "node-a")
	x := newForger(t, "node-a")
	tr := newTrap(t, x)
	h, _ := x.hello("node-b", tr.addr)
	if r := call(t, x.client("", false), hsURL(b, "hello"), h); r.Code != ptp.NotPermitted || r.Message != uniformRefusal {
		t.Fatalf("stranger's hello mid-handshake: %s %s", r.Code, r.Message)
	}
	if after := b.Route(t, "node-a"); after != before {
		t.Fatalf("B's route changed: %+v, was %+v", after, before)
	}
	b.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-a", "code": a.Route(t, "node-b").Code}, ptp.OK)
	a.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-b", "code": before.Code}, ptp.OK)
	meshtest.WaitFor(t, 10*time.Second, "both woven", func() bool {
		return a.RouteState(t, "node-b") == "woven" && b.RouteState(t, "node-a") == "woven"
	})
	if n := tr.conns.Load(); n != 0 {
		t.Fatalf("the stranger's address got %d connections", n)
	}
}

// TestReplayedRootDoesNotCompleteWeave: B's public root, replayed by a
// stranger in a hello or behind a confirmation, does not make A's pending
// route woven: only the holder of B's key can speak for node-b.
func TestReplayedRootDoesNotCompleteWeave(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	bRoot := b.Identify(t, "node-b", "inst-b")
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": b.Addr}, ptp.OK)
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK)
	code := a.Route(t, "node-b").Code
	x := newForger(t, "node-b")
	h, _ := x.hello("node-a", "")
	h.RootCrt = bRoot // B's root, but x's key
	for name, c := range map[string]*http.Client{"plaintext": http.DefaultClient, "no certificate": x.client("", true), "x's certificate": x.client("", false)} {
		url := hsURL(a, "hello")
		if name == "plaintext" {
			url = a.URL + "/v1/interconn/net/hello"
		}
		if r := call(t, c, url, h); r.Code != ptp.CertificateError {
			t.Errorf("replayed root, %s: %s %s", name, r.Code, r.Message)
		}
		if r := call(t, c, strings.Replace(url, "hello", "confirm", 1), network.Confirmation{NodeID: "node-b", Code: code}); r.Code == ptp.OK {
			t.Errorf("confirmation, %s: accepted", name)
		}
	}
	if rt := a.Route(t, "node-b"); rt.State != "pending" || rt.Awaiting != "both" {
		t.Fatalf("A's route after the replays: %+v", rt)
	}
}

// fakeNode answers the handshake as node id under f's root and claims, in
// its answer, that the route is woven with some code.
func fakeNode(t testing.TB, f *forger) string {
	t.Helper()
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, content any) {
		_ = json.NewEncoder(w).Encode(map[string]any{"code": ptp.OK, "message": "ok", "content": content})
	}
	mux.HandleFunc("/v1/interconn/net/hello", func(w http.ResponseWriter, r *http.Request) {
		nonce := make([]byte, 32)
		_, _ = rand.Read(nonce)
		ok(w, map[string]any{"node_id": f.id, "root_crt": f.rootPEM, "nonce": hex.EncodeToString(nonce),
			"state": "woven", "awaiting": "", "code": "AAAA-AAAA-AAAA-AAAA"})
	})
	mux.HandleFunc("/v1/interconn/net/", func(w http.ResponseWriter, r *http.Request) {
		ok(w, map[string]any{"state": "woven", "confirmed": "true"})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{f.cert}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestReplyStateNotTrusted: a partner answering "woven" does not make the
// initiator woven, nor does the initiator's own ack: the partner's
// confirmation must arrive.
func TestReplyStateNotTrusted(t *testing.T) {
	a := meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	addr := fakeNode(t, newForger(t, "node-b"))
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": addr}, ptp.OK)
	var r meshtest.RouteView
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK).Decode(t, &r)
	if r.State != "pending" || r.Awaiting != "both" || r.Code == "AAAA-AAAA-AAAA-AAAA" {
		t.Fatalf("after a weave answered with woven: %+v", r)
	}
	a.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-b", "code": r.Code}, ptp.OK)
	if rt := a.Route(t, "node-b"); rt.State != "pending" || rt.Awaiting != "partner" {
		t.Fatalf("after our ack alone: %+v", rt)
	}
	if code, _ := (&meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}).Push(t.Context(), "t", []byte("x")); code != ptp.NotWoven {
		t.Fatalf("push: %s", code)
	}
}

// TestInstTakeoverRefused: a partner cannot take over another
// institution's id, by its answer to our weave or by its own hello, so
// routing by institution keeps going to the one node of it.
func TestInstTakeoverRefused(t *testing.T) {
	a, b, c := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-c") // B claims C's institution
	c.Identify(t, "node-c", "inst-c")
	meshtest.Weave(t, a, c, nil)

	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "inst_id": "inst-b", "address": b.Addr}, ptp.OK)
	r := a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.NotPermitted)
	if !strings.Contains(r.Message, "institution") {
		t.Fatalf("weave answered with another institution: %s", r.Message)
	}
	if rt := a.Route(t, "node-b"); rt.InstID != "inst-b" || rt.State != "new" {
		t.Fatalf("A's route to node-b: %+v", rt)
	}
	if rt := b.Route(t, "node-a"); rt.Awaiting != "reveal" {
		t.Fatalf("A went on with the handshake after the wrong institution: B shows %+v", rt)
	}
	a.Control(t, "/v1/interconn/net/remove", map[string]string{"node_id": "node-b"}, ptp.OK)

	// B weaves A itself: A learns node-b as inst-c, and acking it is refused.
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "address": a.Addr}, ptp.OK)
	b.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-a"}, ptp.OK)
	r = a.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-b", "code": a.Route(t, "node-b").Code}, ptp.NotPermitted)
	if !strings.Contains(r.Message, "node-c") {
		t.Fatalf("ack of a second node of inst-c: %s", r.Message)
	}
	push := &meshtest.HTTPClient{URL: a.URL, Session: "inst", Headers: map[string]string{"x-ptp-target-inst-id": "inst-c"}}
	for i := range 20 {
		if code, err := push.Push(t.Context(), "t", fmt.Appendf(nil, "m%d", i)); code != ptp.OK {
			t.Fatalf("push %d to inst-c: %s %v", i, code, err)
		}
	}
	popAll(t, c, "inst", "t", 20)
}

// TestHelloFloodDoesNotBlockGenuineWeave: 300 proven hellos from one
// address (127.0.0.2), each for another node id, are cut by the per-source
// rate limit; a genuine weave from another address goes through after.
func TestHelloFloodDoesNotBlockGenuineWeave(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	root, err := pki.NewRoot("flood")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 300; i += 4 {
				x := forgerUnder(t, root, fmt.Sprintf("node-x%03d", i))
				h, _ := x.hello("node-b", "")
				r, err := try(x.client("127.0.0.2", false), hsURL(b, "hello"), h)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Code != ptp.OK {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if refused.Load() < 255 {
		t.Fatalf("only %d of 300 flooding hellos were refused", refused.Load())
	}
	meshtest.Weave(t, a, b, nil)
}

// TestHelloFieldsValidated: a hello's fields are checked before anything
// is stored: control characters in the address, a huge institution name,
// text after the root, a plaintext address.
func TestHelloFieldsValidated(t *testing.T) {
	b := meshtest.Start(t, host.Config{})
	b.Identify(t, "node-b", "inst-b")
	x := newForger(t, "node-x")
	for name, change := range map[string]func(*network.Hello){
		"newline in address": func(h *network.Hello) { h.Address = "127.0.0.1:1\nnode-y\twoven" },
		"ESC in address":     func(h *network.Hello) { h.Address = "\x1b[2J127.0.0.1:1" },
		"plaintext address":  func(h *network.Hello) { h.Address = "http://127.0.0.1:1" },
		"200 KB inst_name":   func(h *network.Hello) { h.InstName = strings.Repeat("A", 200<<10) },
		"ESC in inst_name":   func(h *network.Hello) { h.InstName = "\x1b[31mBank" },
		"trailing PEM text":  func(h *network.Hello) { h.RootCrt += "fresh bytes for a collision search" },
		"no commitment":      func(h *network.Hello) { h.Commit = "" },
	} {
		h, _ := x.hello("node-b", "127.0.0.1:1")
		change(&h)
		r, err := try(x.client("", false), hsURL(b, "hello"), h)
		if err != nil && name == "200 KB inst_name" {
			continue // refused (413) before it was all sent: the write may see a reset
		}
		if err != nil || r.Code == ptp.OK {
			t.Errorf("%s: %+v %v", name, r, err)
		}
	}
	if g := meshtest.Get(t, b.URL+"/v1/interconn/net/node-x"); g.Code != ptp.NotFound {
		t.Fatalf("a refused hello left a route: %s", g.Body)
	}
}

// TestHelloRefusalsUniform: whatever the state of the route a proven
// hello runs into (woven, disabled, pending from our own weave, another
// institution), the answer is the same.
func TestHelloRefusalsUniform(t *testing.T) {
	a, b, c := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	c.Identify(t, "node-c", "inst-c")
	meshtest.Weave(t, a, b, nil) // b: node-a woven
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-off", "address": "127.0.0.1:9"}, ptp.OK)
	b.Control(t, "/v1/interconn/net/disable", map[string]string{"node_id": "node-off"}, ptp.OK)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-c", "address": c.Addr}, ptp.OK)
	b.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-c"}, ptp.OK) // b: node-c pending, ours
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-i", "inst_id": "inst-i", "address": "127.0.0.1:9"}, ptp.OK)
	var seen []answer
	for _, id := range []string{"node-a", "node-off", "node-c", "node-i"} {
		x := newForger(t, id)
		h, _ := x.hello("node-b", "")
		h.InstID = "inst-other"
		seen = append(seen, call(t, x.client("", false), hsURL(b, "hello"), h))
	}
	for i, r := range seen {
		if r.Code != ptp.NotPermitted || r.Message != uniformRefusal {
			t.Errorf("hello %d: %s %s", i, r.Code, r.Message)
		}
	}
}

// mitm sits between A and B: it answers A as node-b under a root of its
// own and greets B as node-a under another, relaying the handshake, and
// keeps every byte of the messages it read.
type mitm struct {
	asB, asA *forger
	to       *meshtest.Node
	addr     string

	mu     sync.Mutex
	seen   []byte
	nonceA []byte // the nonce M committed to towards B
}

func newMITM(t testing.TB, to *meshtest.Node) *mitm {
	t.Helper()
	m := &mitm{asB: newForger(t, "node-b"), asA: newForger(t, "node-a"), to: to}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/interconn/net/hello", m.hello(t))
	mux.HandleFunc("/v1/interconn/net/reveal", m.reveal(t))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{m.asB.cert}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	m.addr = srv.Listener.Addr().String()
	return m
}

func (m *mitm) record(b []byte) {
	m.mu.Lock()
	m.seen = append(m.seen, b...)
	m.mu.Unlock()
}

func (m *mitm) relay(t testing.TB, step string, body any) answer {
	b, _ := json.Marshal(body)
	m.record(b)
	r, err := try(m.asA.client("", false), hsURL(m.to, step), body)
	if err != nil || r.Code != ptp.OK {
		t.Errorf("relay %s to B: %+v %v", step, r, err)
	}
	m.record(r.Content)
	return r
}

func (m *mitm) hello(t testing.TB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.record(body)
		var fromA network.Hello
		_ = json.Unmarshal(body, &fromA)
		toB, nonce := m.asA.hello("node-b", "")
		toB.InstID = fromA.InstID
		m.mu.Lock()
		m.nonceA = nonce
		m.mu.Unlock()
		var fromB network.Hello
		_ = json.Unmarshal(m.relay(t, "hello", toB).Content, &fromB)
		// M must answer before A reveals its nonce: all it can do is pick one.
		mine := make([]byte, 32)
		_, _ = rand.Read(mine)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": ptp.OK, "content": network.Hello{NodeID: "node-b",
			InstID: fromB.InstID, RootCrt: m.asB.rootPEM, Nonce: hex.EncodeToString(mine)}})
	}
}

func (m *mitm) reveal(t testing.TB) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.record(body)
		m.mu.Lock()
		nonce := m.nonceA
		m.mu.Unlock()
		m.relay(t, "reveal", network.Reveal{NodeID: "node-a", Target: "node-b", Nonce: hex.EncodeToString(nonce)})
		_ = json.NewEncoder(w).Encode(map[string]any{"code": ptp.OK, "content": map[string]string{}})
	}
}

// TestMITMCodesDiffer is finding 2: a party in the middle that substitutes
// both roots ends with two different codes, so each operator's ack with the
// code the other read out is refused and neither side is woven. The
// handshake it relayed carried no private key.
func TestMITMCodesDiffer(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	m := newMITM(t, b)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": m.addr}, ptp.OK)
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK)
	codeA, codeB := a.Route(t, "node-b").Code, b.Route(t, "node-a").Code
	if codeA == "" || codeB == "" || codeA == codeB {
		t.Fatalf("codes through the middle: A %q, B %q", codeA, codeB)
	}
	b.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-a", "code": codeA}, ptp.CertificateError)
	a.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-b", "code": codeB}, ptp.CertificateError)
	// M holds the key of the root B recorded for node-a, but its
	// confirmation can only carry A's code, which B does not show.
	if r := call(t, m.asA.client("", false), hsURL(b, "confirm"), network.Confirmation{NodeID: "node-a", Code: codeA}); r.Code != ptp.CertificateError {
		t.Fatalf("M's confirmation with A's code: %s %s", r.Code, r.Message)
	}
	if rt := b.Route(t, "node-a"); rt.Awaiting != "both" {
		t.Fatalf("B after M's confirmation: %+v", rt)
	}
	if sa, sb := a.RouteState(t, "node-b"), b.RouteState(t, "node-a"); sa == "woven" || sb == "woven" {
		t.Fatalf("woven through the middle: A %s, B %s", sa, sb)
	}
	m.mu.Lock()
	seen := string(m.seen)
	m.mu.Unlock()
	if !strings.Contains(seen, "BEGIN CERTIFICATE") || strings.Contains(strings.ToUpper(seen), "PRIVATE KEY") {
		t.Fatalf("the relayed handshake (%d bytes) lacks a root or carries a key", len(seen))
	}
}

// TestCodeGrindingRefusedByCommitment: an initiator that, having seen the
// responder's nonce, searches for a nonce of its own that gives a code of
// its choosing (here a 3-character prefix, 15 bits; a real attack needs
// 80) cannot use it: the reveal must match the hello's commitment.
func TestCodeGrindingRefusedByCommitment(t *testing.T) {
	b := meshtest.Start(t, host.Config{})
	b.Identify(t, "node-b", "inst-b")
	x := newForger(t, "node-a")
	h, honest := x.hello("node-b", "")
	var reply network.Hello
	if err := json.Unmarshal(call(t, x.client("", false), hsURL(b, "hello"), h).Content, &reply); err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(reply.RootCrt))
	nonceB, _ := hex.DecodeString(reply.Nonce)
	const want = "MES"
	var ground []byte
	for i := range 1 << 22 {
		cand := fmt.Appendf(nil, "%032d", i)
		if strings.HasPrefix(network.AuthCode("node-a", "node-b", x.rootDER, blk.Bytes, cand, nonceB), want) {
			ground = cand
			break
		}
	}
	if ground == nil {
		t.Fatal("no nonce found for the prefix")
	}
	r := call(t, x.client("", false), hsURL(b, "reveal"), network.Reveal{NodeID: "node-a", Nonce: hex.EncodeToString(ground)})
	if r.Code != ptp.CertificateError {
		t.Fatalf("reveal of a ground nonce: %s %s", r.Code, r.Message)
	}
	if rt := b.Route(t, "node-a"); rt.Code != "" {
		t.Fatalf("B shows the code %s after a reveal that broke the commitment", rt.Code)
	}
	if r := call(t, x.client("", false), hsURL(b, "reveal"), network.Reveal{NodeID: "node-a", Nonce: hex.EncodeToString(honest)}); r.Code != ptp.OK {
		t.Fatalf("the committed reveal: %s %s", r.Code, r.Message)
	}
}
