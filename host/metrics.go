package host

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/metrics"
)

// newMetrics makes the node's metrics, with the access log when cfg asks
// for it (through the node's logger).
func newMetrics(cfg Config) *metrics.Metrics {
	var o metrics.Options
	if cfg.AccessLog {
		o.AccessLog = cfg.Logger
	}
	return metrics.New(o)
}

// limits are the service's limits, with the metrics that observe its calls.
func (h *Host) limits() api.Limits {
	l := h.cfg.limits()
	l.Metrics = h.metrics.Calls()
	return l
}

// watchMetrics points the scrape-time metrics at the node's parts.
func (h *Host) watchMetrics() {
	h.metrics.Watch(metrics.Sources{
		Queue:    h.queue.Stats,
		Network:  h.net.Stats,
		Routes:   h.net.List,
		Plugins:  h.plugins.Stats,
		Services: h.proxy.Stats,
		NATS:     h.natsState,
		Store:    h.storeUse,
		Roles:    h.roles,
	})
}

func (h *Host) natsState() metrics.NATS {
	nc := h.nats.Conn
	return metrics.NATS{Connected: nc.Status() == nats.CONNECTED, Reconnects: nc.Stats().Reconnects}
}

// storeUse is JetStream's storage use: the account's, and the queue stream's.
func (h *Host) storeUse(ctx context.Context) (metrics.Store, error) {
	ai, err := h.nats.JS.AccountInfo(ctx)
	if err != nil {
		return metrics.Store{}, err
	}
	s := metrics.Store{FileBytes: ai.Store, MemoryBytes: ai.Memory, Streams: ai.Streams}
	st, err := h.nats.JS.Stream(ctx, natsnames.QueueStream)
	if err != nil {
		return s, nil
	}
	if info := st.CachedInfo(); info != nil {
		s.QueueMessages, s.QueueBytes = info.State.Msgs, info.State.Bytes
	}
	return s, nil
}

// roles are the duties this replica holds now.
func (h *Host) roles(ctx context.Context) metrics.Roles {
	r := metrics.Roles{OutboxLease: h.net.DeliversOutbox()}
	leader := h.queue.Leader(ctx)
	r.QueueLeader = leader == "" || leader == h.nats.Conn.ConnectedServerName()
	return r
}
