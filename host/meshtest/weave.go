package meshtest

import (
	"encoding/json"
	"testing"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Identify gives the node its node id and institution, as an operator's
// node/refresh does, and returns the node's public root certificate.
func (n *Node) Identify(tb testing.TB, nodeID, instID string) string {
	tb.Helper()
	r := Post(tb, n.AdminURL, "/v1/interconn/node/refresh", nil, map[string]string{"node_id": nodeID, "inst_id": instID})
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
	r := Post(tb, n.AdminURL, path, nil, body)
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

// RouteView is the comparable part of a route as a node's API shows it, so
// that tests can compare two views with ==: network.Route itself holds a
// slice and cannot be compared. It decodes from network.Route's JSON, so the
// field names are written in one place.
type RouteView struct {
	NodeID   string
	InstID   string
	Address  string
	State    network.State
	Awaiting string
	Code     string
	Root     string // the partner's root certificate (guest_root)
}

// ViewOf is the view of r.
func ViewOf(r network.Route) RouteView {
	return RouteView{NodeID: r.NodeID, InstID: r.InstID, Address: r.Address, State: r.State,
		Awaiting: r.Awaiting, Code: r.Code, Root: r.GuestRoot}
}

// UnmarshalJSON decodes a network.Route and keeps its view.
func (v *RouteView) UnmarshalJSON(data []byte) error {
	var r network.Route
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	*v = ViewOf(r)
	return nil
}

// Route is n's route to node id; the zero RouteView when there is none.
func (n *Node) Route(tb testing.TB, id string) RouteView {
	tb.Helper()
	var r RouteView
	if g := Get(tb, n.AdminURL+"/v1/interconn/net/"+id); g.Code == ptp.OK {
		g.Decode(tb, &r)
	}
	return r
}

// RouteState is the state of n's route to node id, "" when there is none.
func (n *Node) RouteState(tb testing.TB, id string) string {
	tb.Helper()
	return string(n.Route(tb, id).State)
}

// Public is the public identity a node shows (GET /v1/interconn/node).
type Public = api.NodeInfo

// Public fetches n's public identity.
func (n *Node) Public(tb testing.TB) Public {
	tb.Helper()
	var p Public
	Get(tb, n.AdminURL+"/v1/interconn/node").Decode(tb, &p)
	return p
}
