package host_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
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

func TestWeaveThroughAPIShowsOneCode(t *testing.T) {
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	if got := a.Public(t).Advertise; got != a.Addr {
		t.Fatalf("node advertises %q, want its bound address %s", got, a.Addr)
	}
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "inst_id": "inst-b", "address": b.Addr}, ptp.OK)
	var ra, rb struct {
		State, Awaiting, Code string
	}
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK).Decode(t, &ra)
	meshtest.Get(t, b.URL+"/v1/interconn/net/node-a").Decode(t, &rb)
	if ra.State != "pending" || ra.Awaiting != "partner" || rb.State != "pending" || rb.Awaiting != "us" {
		t.Fatalf("after weave: A sees %+v, B sees %+v", ra, rb)
	}
	if ra.Code == "" || ra.Code != rb.Code {
		t.Fatalf("authorisation codes differ: A %q, B %q", ra.Code, rb.Code)
	}
	// Pushing before the ack is refused: B is not woven yet.
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}
	if code, _ := c.Push("t", []byte("early")); code != ptp.NotWoven {
		t.Fatalf("push before ack: %s", code)
	}
	b.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-a", "inst_id": "inst-a", "code": "WRON-GCOD"}, ptp.CertificateError)
	b.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-a", "inst_id": "inst-a", "code": rb.Code}, ptp.OK)
	meshtest.WaitFor(t, 10e9, "A to learn of the ack", func() bool { return a.RouteState(t, "node-b") == "woven" })
	if code, err := c.Push("t", []byte("now")); code != ptp.OK {
		t.Fatalf("push after ack: %s %v", code, err)
	}
}

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
				if code, err := push.Push("t", fmt.Appendf(nil, "m%d", i)); code != ptp.OK {
					t.Fatalf("push %d: %s %v", i, code, err)
				}
			}
			for i := range 20 {
				got, code, err := pop.Pop("t", 5000)
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
	if code, err := push.Push("tensor", big); code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	pop := meshtest.NewGRPCClient(meshtest.Dial(t, b.Addr), "big")
	got, code, err := pop.Pop("tensor", 10000)
	if code != ptp.OK || !bytes.Equal(got, big) {
		t.Fatalf("pop: %d bytes, %s %v", len(got), code, err)
	}
}

func TestDisabledAndExpiredRoutes(t *testing.T) {
	a, b := pair(t, nil)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}
	a.Control(t, "/v1/interconn/net/disable", map[string]string{"node_id": "node-b"}, ptp.OK)
	if code, _ := c.Push("t", []byte("x")); code != ptp.PeerDisabled {
		t.Fatalf("push on a disabled route: %s", code)
	}
	a.Control(t, "/v1/interconn/net/enable", map[string]string{"node_id": "node-b"}, ptp.OK)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "expires_at": "2020-01-01T00:00:00Z"}, ptp.OK)
	if code, _ := c.Push("t", []byte("x")); code != ptp.NetworkExpired {
		t.Fatalf("push on an expired route: %s", code)
	}
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "expires_at": "2999-01-01T00:00:00Z"}, ptp.OK)
	// B switching A off refuses A's deliveries, whatever A thinks.
	b.Control(t, "/v1/interconn/net/disable", map[string]string{"node_id": "node-a"}, ptp.OK)
	if code, _ := c.Push("t", []byte("x")); code != ptp.PeerDisabled {
		t.Fatalf("push to a partner that disabled us: %s", code)
	}
	b.Control(t, "/v1/interconn/net/enable", map[string]string{"node_id": "node-a"}, ptp.OK)
	if code, _ := c.Push("t", []byte("x")); code != ptp.OK {
		t.Fatalf("push after both re-enabled: %s", code)
	}
	// Removing the route makes the partner unknown again.
	a.Control(t, "/v1/interconn/net/remove", map[string]string{"node_id": "node-b"}, ptp.OK)
	if code, _ := c.Push("t", []byte("x")); code != ptp.NotWoven {
		t.Fatalf("push after removal: %s", code)
	}
	a.Control(t, "/v1/interconn/net/remove", map[string]string{"node_id": "node-b"}, ptp.NotFound)
}

// TestReweaveLearnsAMissedAck: B acks while A is down, so B cannot tell A.
// A's operator weaves again and learns that B has acked.
func TestReweaveLearnsAMissedAck(t *testing.T) {
	homeA := t.TempDir()
	a, b := meshtest.Start(t, host.Config{Home: homeA}), meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": b.Addr}, ptp.OK)
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK)
	a.Stop(t)
	b.Control(t, "/v1/interconn/net/ack", map[string]string{"node_id": "node-a", "inst_id": "inst-a"}, ptp.OK)
	a = restart(t, a, homeA, host.Config{})
	if s := a.RouteState(t, "node-b"); s != "pending" {
		t.Fatalf("A's route after a missed ack: %s", s)
	}
	var r struct{ State string }
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "node-b"}, ptp.OK).Decode(t, &r)
	if r.State != "woven" {
		t.Fatalf("weaving again: %s", r.State)
	}
	if code, err := (&meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "node-b"}).Push("t", []byte("x")); code != ptp.OK {
		t.Fatalf("push after re-weave: %s %v", code, err)
	}
}
