package network

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The weave state machine, step by step, against an in-memory route table:
// each step (woven, greeted, revealed, acked, partnerAcked) is a pure
// function of the stored route and what arrived, so no NATS is needed.

const (
	rootA    = "ROOT-A"
	rootB    = "ROOT-B"
	codeOK   = "ABCD-EFGH-IJKL-MNOP"
	codeBad  = "ZZZZ-ZZZZ-ZZZZ-ZZZZ"
	testPeer = "node-p"
)

// stubNet is a Network holding routes in memory only: enough for the state
// steps, which read the table but never store.
func stubNet(routes ...Route) *Network {
	t := &table{routes: make(map[string]*entry)}
	for _, r := range routes {
		t.routes[r.NodeID] = newEntry(r, 1)
	}
	return &Network{cfg: Config{PendingTTL: time.Hour}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		routes: t, ident: &identity.Store{}, hellos: newHelloLimiter(HelloLimits{})}
}

// checkStep compares a step's outcome with the expected code and, on
// success, with want(r).
func checkStep(t *testing.T, name string, r Route, err error, wantCode ptp.Code, want func(Route) bool) {
	t.Helper()
	if wantCode != "" {
		if code(err) != wantCode {
			t.Errorf("%s: got %v (%+v), want code %s", name, err, r, wantCode)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	if want != nil && !want(r) {
		t.Errorf("%s: unexpected route %+v", name, r)
	}
}

// TestWovenStep: our own weave turns a route into a pending handshake
// awaiting both acks, and refuses a changed root or institution.
func TestWovenStep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cur   *Route
		reply Hello
		code  ptp.Code
		want  func(Route) bool
	}{
		{"removed meanwhile", nil, Hello{}, ptp.NotFound, nil},
		{"woven under another root", &Route{NodeID: testPeer, State: StateWoven, GuestRoot: rootB}, Hello{}, ptp.CertificateError, nil},
		{"another institution", &Route{NodeID: testPeer, State: StateNew, InstID: "inst-x"}, Hello{InstID: "inst-y"}, ptp.NotPermitted, nil},
		{"new route", &Route{NodeID: testPeer, State: StateNew, Address: "127.0.0.1:9"}, Hello{InstID: "inst-p", InstName: "P"}, "",
			func(r Route) bool {
				return r.State == StatePending && r.Code == codeOK && r.GuestRoot == rootA && r.InstID == "inst-p" &&
					r.Awaiting == AwaitingBoth && r.Address == "127.0.0.1:9" && !r.FromHello
			}},
		{"woven again under the same root", &Route{NodeID: testPeer, State: StateWoven, GuestRoot: rootA, Acked: true, PartnerAcked: true}, Hello{}, "",
			func(r Route) bool {
				return r.State == StatePending && !r.Acked && !r.PartnerAcked && r.Awaiting == AwaitingBoth
			}},
		{"a partner's hello before ours", &Route{NodeID: testPeer, State: StatePending, FromHello: true, PendingUntil: time.Now().Add(time.Hour),
			Handshake: &Handshake{}}, Hello{}, "",
			func(r Route) bool { return !r.FromHello && r.PendingUntil.IsZero() && r.Handshake == nil }},
	} {
		r, err := handshaken(tc.cur, testPeer, tc.reply, rootA, codeOK)
		checkStep(t, tc.name, r, err, tc.code, tc.want)
	}
}

// TestGreetedStep: which stored routes a proven hello may turn pending,
// and that it never changes an operator's address, root or state.
func TestGreetedStep(t *testing.T) {
	now := time.Now()
	live, gone := now.Add(time.Hour), now.Add(-time.Second)
	for _, tc := range []struct {
		name string
		cur  *Route
		code ptp.Code
		want func(Route) bool
	}{
		{"no route", nil, "", func(r Route) bool {
			return r.State == StatePending && r.FromHello && r.Address == "127.0.0.1:9" && r.GuestRoot == rootA &&
				r.Awaiting == AwaitingReveal && r.PendingUntil.After(now) && r.Handshake != nil
		}},
		{"a lapsed hello's route", &Route{NodeID: testPeer, State: StatePending, FromHello: true, GuestRoot: rootB, Address: "127.0.0.1:8", PendingUntil: gone}, "",
			func(r Route) bool { return r.GuestRoot == rootA && r.Address == "127.0.0.1:9" }},
		{"disabled", &Route{NodeID: testPeer, State: StateNew, Disabled: true}, ptp.NotPermitted, nil},
		{"operator's route without a root", &Route{NodeID: testPeer, State: StateNew, Address: "127.0.0.1:7"}, "",
			func(r Route) bool {
				return r.State == StatePending && r.Address == "127.0.0.1:7" && !r.FromHello && r.GuestRoot == rootA
			}},
		{"operator's route without an address", &Route{NodeID: testPeer, State: StateNew}, "",
			func(r Route) bool { return r.Address == "127.0.0.1:9" }},
		{"operator's route with a root", &Route{NodeID: testPeer, State: StateNew, GuestRoot: rootB}, ptp.NotPermitted, nil},
		{"operator's route with a pinned certificate", &Route{NodeID: testPeer, State: StateNew, GuestCrt: "CRT"}, ptp.NotPermitted, nil},
		{"operator's route whose candidate lapsed", &Route{NodeID: testPeer, State: StatePending, GuestRoot: rootB, Address: "127.0.0.1:7", PendingUntil: gone}, "",
			func(r Route) bool { return r.GuestRoot == rootA && r.Address == "127.0.0.1:7" && !r.FromHello }},
		{"the same partner again", &Route{NodeID: testPeer, State: StatePending, GuestRoot: rootA, PendingUntil: live, FromHello: true}, "",
			func(r Route) bool { return r.State == StatePending && r.Code == "" }},
		{"pending under another root", &Route{NodeID: testPeer, State: StatePending, GuestRoot: rootB, PendingUntil: live}, ptp.NotPermitted, nil},
		{"pending by our own weave", &Route{NodeID: testPeer, State: StatePending, GuestRoot: rootA, Code: codeOK}, ptp.NotPermitted, nil},
		{"woven", &Route{NodeID: testPeer, State: StateWoven, GuestRoot: rootA}, ptp.NotPermitted, nil},
		{"another institution", &Route{NodeID: testPeer, State: StateNew, InstID: "inst-x"}, ptp.NotPermitted, nil},
	} {
		n := stubNet()
		h := Hello{NodeID: testPeer, InstID: "inst-p", Address: "127.0.0.1:9"}
		r, err := n.greeted(&Conn{Remote: "127.0.0.2"}, tc.cur, h, rootA, &Handshake{Commit: []byte{1}, Nonce: []byte{2}})
		checkStep(t, tc.name, r, err, tc.code, tc.want)
	}
}

// TestGreetedCap: once maxPendingIn hellos await an operator, a stranger's
// hello creates no route; a lapsed one frees its place.
func TestGreetedCap(t *testing.T) {
	var routes []Route
	for i := range maxPendingIn {
		routes = append(routes, Route{NodeID: "node-h" + string(rune('a'+i%26)) + string(rune('a'+i/26)), State: StatePending,
			FromHello: true, PendingUntil: time.Now().Add(time.Hour)})
	}
	n := stubNet(routes...)
	h := Hello{NodeID: testPeer}
	if _, err := n.greeted(&Conn{}, nil, h, rootA, &Handshake{}); code(err) != ptp.NotPermitted {
		t.Fatalf("hello over the cap: %v", err)
	}
	n.routes.routes[routes[0].NodeID].PendingUntil = time.Now().Add(-time.Second)
	if _, err := n.greeted(&Conn{}, nil, h, rootA, &Handshake{}); err != nil {
		t.Fatalf("hello once one lapsed: %v", err)
	}
}

// TestAckedStep: our operator's ack, from every state.
func TestAckedStep(t *testing.T) {
	live, gone := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	pending := func(mod func(*Route)) *Route {
		return with(Route{NodeID: testPeer, State: StatePending, Code: codeOK, GuestRoot: rootA, InstID: "inst-p", PendingUntil: live, FromHello: true}, mod)
	}
	for _, tc := range []struct {
		name string
		cur  *Route
		req  AckRequest
		code ptp.Code
		want func(Route) bool
	}{
		{"no route", nil, AckRequest{Code: codeOK}, ptp.NotFound, nil},
		{"lapsed", pending(func(r *Route) { r.PendingUntil = gone }), AckRequest{Code: codeOK}, ptp.NetworkExpired, nil},
		{"new", &Route{NodeID: testPeer, State: StateNew}, AckRequest{Code: codeOK}, ptp.BadRequest, nil},
		{"awaiting the reveal", pending(func(r *Route) { r.Code = "" }), AckRequest{Code: codeOK}, ptp.BadRequest, nil},
		{"wrong code", pending(nil), AckRequest{Code: codeBad}, ptp.CertificateError, nil},
		{"another institution", pending(nil), AckRequest{Code: codeOK, InstID: "inst-x"}, ptp.BadRequest, nil},
		{"institution already another node's", pending(func(r *Route) { r.InstID = "inst-q" }), AckRequest{Code: codeOK}, ptp.NotPermitted, nil},
		{"first ack", pending(nil), AckRequest{Code: "abcd efgh ijkl mnop"}, "", func(r Route) bool {
			return r.State == StatePending && r.Acked && !r.FromHello && r.Awaiting == AwaitingPartner
		}},
		{"after the partner's", pending(func(r *Route) { r.PartnerAcked = true }), AckRequest{Code: codeOK}, "", func(r Route) bool {
			return r.State == StateWoven && r.PendingUntil.IsZero() && r.Awaiting == ""
		}},
		{"again once woven", &Route{NodeID: testPeer, State: StateWoven, Code: codeOK, Acked: true, PartnerAcked: true}, AckRequest{Code: codeOK}, "",
			func(r Route) bool { return r.State == StateWoven }},
	} {
		n := stubNet(Route{NodeID: "node-q", InstID: "inst-q", State: StateWoven})
		tc.req.NodeID = testPeer
		r, err := n.acked(tc.cur, tc.req)
		checkStep(t, tc.name, r, err, tc.code, tc.want)
	}
}

// TestPartnerAckedStep: the partner's confirmation, from every state.
func TestPartnerAckedStep(t *testing.T) {
	live, gone := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	e := newEntry(Route{NodeID: testPeer, GuestRoot: rootA}, 1)
	pending := func(mod func(*Route)) *Route {
		return with(Route{NodeID: testPeer, State: StatePending, Code: codeOK, GuestRoot: rootA, PendingUntil: live}, mod)
	}
	for _, tc := range []struct {
		name    string
		cur     *Route
		code    string
		want    ptp.Code
		state   State
		changed bool
	}{
		{"no route", nil, codeOK, ptp.NotPermitted, "", false},
		{"root changed", pending(func(r *Route) { r.GuestRoot = rootB }), codeOK, ptp.NotPermitted, "", false},
		{"new", pending(func(r *Route) { r.State = StateNew }), codeOK, ptp.NotPermitted, "", false},
		{"awaiting the reveal", pending(func(r *Route) { r.Code = "" }), codeOK, ptp.NotPermitted, "", false},
		{"lapsed", pending(func(r *Route) { r.PendingUntil = gone }), codeOK, ptp.NotPermitted, "", false},
		{"wrong code", pending(nil), codeBad, ptp.CertificateError, "", false},
		{"before our ack", pending(nil), codeOK, "", StatePending, true},
		{"after our ack", pending(func(r *Route) { r.Acked = true }), codeOK, "", StateWoven, true},
		{"told twice", pending(func(r *Route) { r.PartnerAcked = true }), codeOK, "", StatePending, false},
	} {
		r, changed, err := stubNet().partnerAcked(tc.cur, e, tc.code)
		checkStep(t, tc.name, r, err, tc.want, func(r Route) bool { return r.State == tc.state && r.PartnerAcked })
		if err == nil && changed != tc.changed {
			t.Errorf("%s: changed %v, want %v", tc.name, changed, tc.changed)
		}
	}
}

// TestRevealedStep: a reveal is taken only for a live inbound handshake,
// from the key its hello proved, with the nonce it committed to.
func TestRevealedStep(t *testing.T) {
	root, der, conn := provenPeer(t, testPeer)
	_, _, other := provenPeer(t, testPeer)
	nonce, wrong := newNonce(), newNonce()
	live := time.Now().Add(time.Hour)
	pending := func(mod func(*Route)) *Route {
		return with(Route{NodeID: testPeer, State: StatePending, GuestRoot: root, PendingUntil: live, FromHello: true,
			Handshake: &Handshake{Commit: Commitment(testPeer, der, nonce), Nonce: newNonce()}}, mod)
	}
	for _, tc := range []struct {
		name  string
		cur   *Route
		conn  *Conn
		nonce []byte
		code  ptp.Code
	}{
		{"no route", nil, conn, nonce, ptp.NotPermitted},
		{"no handshake", pending(func(r *Route) { r.Handshake = nil }), conn, nonce, ptp.NotPermitted},
		{"woven", pending(func(r *Route) { r.State = StateWoven }), conn, nonce, ptp.NotPermitted},
		{"lapsed", pending(func(r *Route) { r.PendingUntil = time.Now().Add(-time.Second) }), conn, nonce, ptp.NotPermitted},
		{"another key", pending(nil), other, nonce, ptp.NotPermitted},
		{"another nonce", pending(nil), conn, wrong, ptp.CertificateError},
		{"the committed nonce", pending(nil), conn, nonce, ""},
	} {
		r, err := stubNet().revealed(tc.conn, tc.cur, testPeer, tc.nonce, []byte("our root"))
		checkStep(t, tc.name, r, err, tc.code, func(r Route) bool {
			return r.State == StatePending && len(r.Code) == len(codeOK) && r.Handshake == nil && r.Awaiting == AwaitingBoth
		})
	}
}

// provenPeer is a fresh root for node id (canonical PEM and DER) and a TLS
// connection presenting a client certificate it issued.
func provenPeer(t *testing.T, id string) (string, []byte, *Conn) {
	t.Helper()
	h, c := provenHello(t, id, "127.0.0.2")
	canon, der, err := canonicalRoot(h.RootCrt)
	if err != nil {
		t.Fatal(err)
	}
	return canon, der, c
}

// with is a copy of route r changed by mod (nil: unchanged).
func with(r Route, mod func(*Route)) *Route {
	if mod != nil {
		mod(&r)
	}
	return &r
}
