package api

import (
	"net/http"
	"os"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Stats is the content of a /stats reply to an operator: the node's totals
// since the process started. It is the one type the node encodes and every
// client (`mesh status`, the tests) decodes.
type Stats struct {
	NodeID      string                  `json:"node_id"`
	Pushed      int64                   `json:"pushed"`       // messages stored here
	Popped      int64                   `json:"popped"`       // messages popped here
	PushedBytes int64                   `json:"pushed_bytes"` // their payload bytes
	PoppedBytes int64                   `json:"popped_bytes"`
	WaitingPops int64                   `json:"waiting_pops"`  // pops blocked now
	Sessions    int64                   `json:"sessions"`      // sessions holding messages now
	HeldBytes   int64                   `json:"held_bytes"`    // payload bytes they hold
	HeldMsgs    int64                   `json:"held_messages"` // messages they hold
	Network     network.Stats           `json:"network"`
	Plugins     map[string]plugin.Stats `json:"plugins"`  // by plugin name
	Services    []proxy.RouteStats      `json:"services"` // registered routes: requests, errors, latency, healthy instances
	// Cluster is how this replica sees its cluster (a *host.ClusterStatus);
	// absent when the node runs no cluster. A client decodes it by setting
	// it to a pointer of the type it expects before decoding.
	Cluster any `json:"cluster,omitempty"`

	Version string `json:"version,omitempty"` // of the binary serving
	PID     int    `json:"pid"`               // of the process serving: it changes on an upgrade
}

// Serving is the content of a /stats reply to anyone but an operator: no
// more than that the node serves.
type Serving struct {
	Serving bool `json:"serving"`
}

// stats answers 200 while the node serves, and 503 with the reason while it
// cannot (its store is unreachable), so that the liveness and readiness
// probes of the PTP deployment guide, which use it, see a broken node. Only
// operators (those figures admits) see the figures: others (a kubelet's
// probe, a partner, a stranger) learn no more than that the node serves.
func (h *Handler) stats(figures gate) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.ready(r.Context()); err != nil {
			writeNotReady(w, err)
			return
		}
		if figures(r) != nil {
			writeJSON(w, ptp.OK, Serving{Serving: true})
			return
		}
		writeJSON(w, ptp.OK, h.statsNow(r))
	}
}

// statsNow is the node's Stats at this moment.
func (h *Handler) statsNow(r *http.Request) Stats {
	q := h.queue.Stats()
	s := Stats{NodeID: h.ident.NodeID(), Version: h.version, PID: os.Getpid(), Pushed: q.Pushed, Popped: q.Popped,
		PushedBytes: q.PushedBytes, PoppedBytes: q.PoppedBytes, WaitingPops: q.Waiting,
		Sessions: q.Sessions, HeldBytes: q.HeldBytes, HeldMsgs: q.HeldMessages,
		Network: h.net.Stats(), Plugins: h.svc.plugins.Stats()}
	if u := h.svc.services.Upstreams; u != nil {
		s.Services = u.Stats()
	}
	if h.cluster != nil {
		s.Cluster = h.cluster(r.Context())
	}
	return s
}
