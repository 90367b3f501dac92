package meshtest

import (
	"testing"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Identify gives the node its node id and institution, as an operator's
// node/refresh does, and returns the node's public root certificate.
func (n *Node) Identify(tb testing.TB, nodeID, instID string) string {
	tb.Helper()
	r := Post(tb, n.URL, "/v1/interconn/node/refresh", nil, map[string]string{"node_id": nodeID, "inst_id": instID})
	if r.Code != ptp.OK {
		tb.Fatalf("node refresh of %s: %s", nodeID, r.Body)
	}
	n.ID, n.Inst = nodeID, instID
	var pub struct {
		RootCrt string `json:"root_crt"`
	}
	r.Decode(tb, &pub)
	return pub.RootCrt
}

// Control posts body to a control endpoint of n and fails the test unless
// the answer has code want.
func (n *Node) Control(tb testing.TB, path string, body any, want ptp.Code) Reply {
	tb.Helper()
	r := Post(tb, n.URL, path, nil, body)
	if r.Code != want {
		tb.Fatalf("%s on %s: want %s, got %s", path, n.ID, want, r.Body)
	}
	return r
}

// Weave weaves a and b through their APIs, as two operators would: a adds
// b's address and weaves; each operator reads the code its node shows and
// the other acks with it (b first, then a). Both must be identified.
func Weave(tb testing.TB, a, b *Node, extra map[string]any) {
	tb.Helper()
	body := map[string]any{"node_id": b.ID, "inst_id": b.Inst, "address": b.Addr}
	for k, v := range extra {
		body[k] = v
	}
	a.Control(tb, "/v1/interconn/net/refresh", body, ptp.OK)
	a.Control(tb, "/v1/interconn/net/weave", map[string]string{"node_id": b.ID}, ptp.OK)
	codeA, codeB := a.Route(tb, b.ID).Code, b.Route(tb, a.ID).Code
	b.Control(tb, "/v1/interconn/net/ack", map[string]string{"node_id": a.ID, "inst_id": a.Inst, "code": codeA}, ptp.OK)
	a.Control(tb, "/v1/interconn/net/ack", map[string]string{"node_id": b.ID, "inst_id": b.Inst, "code": codeB}, ptp.OK)
	if extra != nil && extra["outbox"] == true {
		b.Control(tb, "/v1/interconn/net/refresh", map[string]any{"node_id": a.ID, "outbox": true}, ptp.OK)
	}
	WaitFor(tb, defaultWait, "both routes woven", func() bool {
		return a.RouteState(tb, b.ID) == "woven" && b.RouteState(tb, a.ID) == "woven"
	})
}

// RouteView is a route as a node's API shows it.
type RouteView struct {
	NodeID   string `json:"node_id"`
	InstID   string `json:"inst_id"`
	Address  string `json:"address"`
	State    string `json:"state"`
	Awaiting string `json:"awaiting"`
	Code     string `json:"code"`
	Root     string `json:"guest_root"`
}

// Route is n's route to node id; the zero RouteView when there is none.
func (n *Node) Route(tb testing.TB, id string) RouteView {
	tb.Helper()
	var r RouteView
	if g := Get(tb, n.URL+"/v1/interconn/net/"+id); g.Code == ptp.OK {
		g.Decode(tb, &r)
	}
	return r
}

// RouteState is the state of n's route to node id, "" when there is none.
func (n *Node) RouteState(tb testing.TB, id string) string {
	tb.Helper()
	var route struct {
		State string `json:"state"`
	}
	g := Get(tb, n.URL+"/v1/interconn/net/"+id)
	if g.Code != ptp.OK {
		return ""
	}
	g.Decode(tb, &route)
	return route.State
}

// Public is the public identity a node shows (GET /v1/interconn/node).
type Public = api.NodeInfo

// Public fetches n's public identity.
func (n *Node) Public(tb testing.TB) Public {
	tb.Helper()
	var p Public
	Get(tb, n.URL+"/v1/interconn/node").Decode(tb, &p)
	return p
}
