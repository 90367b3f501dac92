package host_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"regexp"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// pair starts two nodes, identified as institutions A and B and woven.
func pair(t testing.TB, extra map[string]any) (a, b *meshtest.Node) {
	t.Helper()
	a, b = meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, extra)
	return a, b
}

// TestWeaveThroughAPIShowsOneCode: both sides show one code after the
// weave, and the route is woven only once both operators acked with it.
func TestWeaveThroughAPIShowsOneCode(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	if got := a.Public(t).Advertise; got != a.Addr {
		t.Fatalf("node advertises %q, want its bound address %s", got, a.Addr)
	}
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "inst_id": "inst-b", "address": b.Addr}, ptp.OK)
	var ra meshtest.RouteView
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK).Decode(t, &ra)
	rb := b.Route(t, "node-a")
	if ra.State != "pending" || ra.Awaiting != "both" || rb.State != "pending" || rb.Awaiting != "both" {
		t.Fatalf("after weave: A sees %+v, B sees %+v", ra, rb)
	}
	if ra.Code == "" || ra.Code != rb.Code || !codeForm.MatchString(ra.Code) {
		t.Fatalf("authorisation codes differ or are malformed: A %q, B %q", ra.Code, rb.Code)
	}
	// Pushing before the acks is refused: B is not woven yet.
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}
	if code, _ := c.Push(t.Context(), "t", []byte("early")); code != ptp.NotWoven {
		t.Fatalf("push before ack: %s", code)
	}
	ack := func(n *meshtest.Node, id, inst, code string, want ptp.Code) {
		n.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": id, "inst_id": inst, "code": code}, want)
	}
	ack(b, "node-a", "inst-a", "WRON-GCOD-EWRO-NGCO", ptp.CertificateError)
	ack(b, "node-a", "inst-a", "", ptp.CertificateError)
	ack(b, "node-a", "inst-a", ra.Code, ptp.OK)
	meshtest.WaitFor(t, 10e9, "A to learn of B's ack", func() bool { return a.Route(t, "node-b").Awaiting == "us" })
	if s, w := b.Route(t, "node-a"), a.RouteState(t, "node-b"); s.State != "pending" || s.Awaiting != "partner" || w != "pending" {
		t.Fatalf("after one ack: B %+v, A %s", s, w)
	}
	if code, _ := c.Push(t.Context(), "t", []byte("half")); code != ptp.NotWoven {
		t.Fatalf("push after one ack: %s", code)
	}
	ack(a, "node-b", "inst-b", rb.Code, ptp.OK)
	meshtest.WaitFor(t, 10e9, "both sides woven", func() bool {
		return a.RouteState(t, "node-b") == "woven" && b.RouteState(t, "node-a") == "woven"
	})
	if code, err := c.Push(t.Context(), "t", []byte("now")); code != ptp.OK {
		t.Fatalf("push after both acks: %s %v", code, err)
	}
	ack(a, "node-b", "inst-b", rb.Code, ptp.OK) // idempotent
}

// codeForm is how an authorisation code reads: 16 base32 characters (80 bits).
var codeForm = regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`)

func TestCrossPushPopBothWays(t *testing.T) {
	a, b := pair(t, nil)
	for _, tc := range []struct {
		name      string
		from, to  *meshtest.Node
		push, pop func(n *meshtest.Node, target string) meshtest.Client
	}{
		{"grpc A to B", a, b, grpcClient(t), grpcClient(t)},
		{"http B to A", b, a, httpClient, httpClient},
		{"http A to B", a, b, httpClient, grpcClient(t)},
		{"grpc B to A", b, a, grpcClient(t), httpClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			push, pop := tc.push(tc.from, tc.to.ID), tc.pop(tc.to, "")
			for i := range 20 {
				if code, err := push.Push(t.Context(), "t", fmt.Appendf(nil, "m%d", i)); code != ptp.OK {
					t.Fatalf("push %d: %s %v", i, code, err)
				}
			}
			for i := range 20 {
				got, code, err := pop.Pop(t.Context(), "t", 5000)
				if code != ptp.OK || string(got) != fmt.Sprintf("m%d", i) {
					t.Fatalf("pop %d: %q %s %v", i, got, code, err)
				}
			}
		})
	}
}

func grpcClient(t *testing.T) func(n *meshtest.Node, target string) meshtest.Client {
	return func(n *meshtest.Node, target string) meshtest.Client {
		c := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "sess-"+target)
		c.Session = "cross"
		c.Target = target
		return c
	}
}

func httpClient(n *meshtest.Node, target string) meshtest.Client {
	return &meshtest.HTTPClient{URL: n.URL, Session: "cross", Target: target}
}

func Test64MiBAcrossNodes(t *testing.T) {
	a, b := pair(t, nil)
	big := make([]byte, 64<<20)
	_, _ = rand.Read(big)
	push := &meshtest.HTTPClient{URL: a.URL, Session: "big", Target: b.ID, Raw: true}
	if code, err := push.Push(t.Context(), "tensor", big); code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	pop := meshtest.NewGRPCClient(meshtest.Dial(t, b.Addr), "big")
	got, code, err := pop.Pop(t.Context(), "tensor", 10000)
	if code != ptp.OK || !bytes.Equal(got, big) {
		t.Fatalf("pop: %d bytes, %s %v", len(got), code, err)
	}
}

func TestDisabledAndExpiredRoutes(t *testing.T) {
	a, b := pair(t, nil)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}
	a.Control(t, "/v1/interconn/net/disable", map[string]string{"node_id": "node-b"}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.PeerDisabled {
		t.Fatalf("push on a disabled route: %s", code)
	}
	a.Control(t, "/v1/interconn/net/enable", map[string]string{"node_id": "node-b"}, ptp.OK)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "expires_at": "2020-01-01T00:00:00Z"}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.NetworkExpired {
		t.Fatalf("push on an expired route: %s", code)
	}
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "expires_at": "2999-01-01T00:00:00Z"}, ptp.OK)
	// B switching A off refuses A's deliveries, whatever A thinks.
	b.Control(t, "/v1/interconn/net/disable", map[string]string{"node_id": "node-a"}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.PeerDisabled {
		t.Fatalf("push to a partner that disabled us: %s", code)
	}
	b.Control(t, "/v1/interconn/net/enable", map[string]string{"node_id": "node-a"}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.OK {
		t.Fatalf("push after both re-enabled: %s", code)
	}
	// Removing the route makes the partner unknown again.
	a.Control(t, "/v1/interconn/net/remove", map[string]string{"node_id": "node-b"}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.NotWoven {
		t.Fatalf("push after removal: %s", code)
	}
	a.Control(t, "/v1/interconn/net/remove", map[string]string{"node_id": "node-b"}, ptp.NotFound)
}

// TestSecondAckLearnsAMissedAck: B acks while A is down, so B cannot tell
// A. When A's operator acks in turn, B (woven now) tells A again and both
// sides end woven. (Before the two-sided acks this was "weave again";
// weaving again now starts a new handshake with a new code.)
func TestSecondAckLearnsAMissedAck(t *testing.T) {
	homeA := t.TempDir()
	a, b := meshtest.Start(t, host.Config{Home: homeA}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": b.Addr}, ptp.OK)
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK)
	code := a.Route(t, "node-b").Code
	a.Stop(t)
	b.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-a", "inst_id": "inst-a", "code": code}, ptp.OK)
	a = restart(t, a, homeA, host.Config{})
	if r := a.Route(t, "node-b"); r.State != "pending" || r.Awaiting != "both" {
		t.Fatalf("A's route after a missed ack: %+v", r)
	}
	a.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-b", "code": b.Route(t, "node-a").Code}, ptp.OK)
	meshtest.WaitFor(t, 10e9, "both sides woven", func() bool {
		return a.RouteState(t, "node-b") == "woven" && b.RouteState(t, "node-a") == "woven"
	})
	if code, err := (&meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}).Push(t.Context(), "t", []byte("x")); code != ptp.OK {
		t.Fatalf("push after the second ack: %s %v", code, err)
	}
}
