package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/queue"
)

// Sources are where the scrape-time metrics are read from: the totals the
// node's packages keep. A nil field exports nothing of its kind.
type Sources struct {
	Queue    func() queue.Stats             // with what the queues hold now, node-wide
	Network  func() network.Stats           // with Partners filled
	Routes   func() []network.Route         // the partner routes, for partners by state
	Plugins  func() map[string]plugin.Stats // by plugin name
	Services func() []proxy.RouteStats      // registered routes
	NATS     func() NATS
	Store    func(ctx context.Context) (Store, error) // asked with storeTimeout
	Roles    func(ctx context.Context) Roles          // asked with storeTimeout
}

// NATS is the state of the node's NATS connection.
type NATS struct {
	Connected  bool
	Reconnects uint64
}

// Store is JetStream's storage use, as the account and the queue stream
// report it.
type Store struct {
	FileBytes, MemoryBytes    uint64
	Streams                   int
	QueueMessages, QueueBytes uint64 // the queue stream's, chunks and markers included
}

// Roles are the duties this replica holds.
type Roles struct {
	QueueLeader bool // its NATS server leads the queue stream (or the stream is not replicated)
	OutboxLease bool // it delivers the outbox
}

// storeTimeout bounds what a scrape asks NATS: a slow store makes those
// metrics absent from one scrape, never the scrape slow.
const storeTimeout = time.Second

// partnerStates are the values of mesh_partners' state label.
var partnerStates = []network.State{network.StateNew, network.StatePending, network.StateWoven, network.StateDisabled, network.StateExpired}

// sourced is the scrape-time collector over Sources.
type sourced struct {
	s Sources
}

func newSourced(s Sources) *sourced { return &sourced{s: s} }

// desc makes the description of one metric; every scrape-time metric is
// described here, once.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dPushed      = desc("mesh_queue_pushed_messages_total", "Messages stored in this node's queues by this process.")
	dPopped      = desc("mesh_queue_popped_messages_total", "Messages popped from this node's queues by this process.")
	dPushedBytes = desc("mesh_queue_pushed_bytes_total", "Payload bytes of the messages pushed.")
	dPoppedBytes = desc("mesh_queue_popped_bytes_total", "Payload bytes of the messages popped.")
	dWaiting     = desc("mesh_queue_waiting_pops", "Pops blocked now, waiting for a message.")
	dSessions    = desc("mesh_queue_sessions", "Sessions holding messages now, node-wide.")
	dHeldMsgs    = desc("mesh_queue_held_messages", "Messages stored in the queues now, node-wide.")
	dHeldBytes   = desc("mesh_queue_held_bytes", "Payload bytes stored in the queues now, node-wide.")

	dForwarded      = desc("mesh_forwarded_messages_total", "Messages partners stored, forwarded by this process.")
	dForwardedBytes = desc("mesh_forwarded_bytes_total", "Payload bytes of the messages forwarded.")
	dRetries        = desc("mesh_forward_retries_total", "Delivery attempts to partners repeated.")
	dParked         = desc("mesh_outbox_parked_messages_total", "Messages parked in the outbox by this process.")
	dOutbox         = desc("mesh_outbox_messages", "Messages parked in the outbox and not yet delivered, node-wide.")
	dPartners       = desc("mesh_partners", "Partner routes, by effective state.", "state")
	dUp             = desc("mesh_partner_up", "1 when the last call to the partner reached it, else 0.", "node_id")
	dPForwarded     = desc("mesh_partner_forwarded_messages_total", "Messages the partner stored, forwarded by this process.", "node_id")
	dPForwardedB    = desc("mesh_partner_forwarded_bytes_total", "Payload bytes forwarded to the partner.", "node_id")
	dPRetries       = desc("mesh_partner_forward_retries_total", "Delivery attempts to the partner repeated.", "node_id")
	dPOutbox        = desc("mesh_partner_outbox_messages", "Messages parked for the partner and not yet delivered.", "node_id")

	dPluginCalls     = desc("mesh_plugin_calls_total", "Plugin calls, by plugin and kind.", "plugin", "kind")
	dPluginFailed    = desc("mesh_plugin_failures_total", "Plugin calls that returned an error.", "plugin", "kind")
	dPluginSeconds   = desc("mesh_plugin_call_duration_seconds", "Time plugin calls took.", "plugin", "kind")
	dPluginMade      = desc("mesh_plugin_instances_created_total", "Plugin instances made.", "plugin", "kind")
	dPluginDiscarded = desc("mesh_plugin_instances_discarded_total", "Plugin instances closed after a trap or timeout.", "plugin", "kind")

	dSvcRequests = desc("mesh_service_requests_total", "Requests to a registered service, finished.", "service")
	dSvcErrors   = desc("mesh_service_errors_total", "Requests to a registered service not forwarded, or answered 5xx or a gRPC error.", "service")
	dSvcInFlight = desc("mesh_service_in_flight_requests", "Requests to a registered service being served now.", "service")
	dSvcSeconds  = desc("mesh_service_request_duration_seconds", "Time requests to a registered service took.", "service")
	dSvcHealthy  = desc("mesh_service_healthy_instances", "Instances of a registered service the proxy would pick now.", "service")
	dSvcInst     = desc("mesh_service_instances", "Instances of a registered service the proxy tracks.", "service")

	dNATSUp         = desc("mesh_nats_connected", "1 while the node's NATS connection is connected, else 0.")
	dNATSReconnects = desc("mesh_nats_reconnects_total", "Reconnections of the node's NATS connection.")
	dStoreBytes     = desc("mesh_jetstream_storage_bytes", "JetStream storage the node's account uses, by storage type.", "type")
	dStreams        = desc("mesh_jetstream_streams", "JetStream streams of the node's account (queues, buckets).")
	dQStreamMsgs    = desc("mesh_queue_stream_messages", "Messages in the queue stream, chunks and markers included.")
	dQStreamBytes   = desc("mesh_queue_stream_bytes", "Bytes of the queue stream.")
	dQueueLeader    = desc("mesh_replica_queue_leader", "1 when this replica's NATS server leads the queue stream, else 0.")
	dOutboxLease    = desc("mesh_replica_outbox_lease", "1 when this replica delivers the outbox, else 0.")
)

var allDescs = []*prometheus.Desc{dPushed, dPopped, dPushedBytes, dPoppedBytes, dWaiting, dSessions, dHeldMsgs, dHeldBytes,
	dForwarded, dForwardedBytes, dRetries, dParked, dOutbox, dPartners, dUp, dPForwarded, dPForwardedB, dPRetries, dPOutbox,
	dPluginCalls, dPluginFailed, dPluginSeconds, dPluginMade, dPluginDiscarded,
	dSvcRequests, dSvcErrors, dSvcInFlight, dSvcSeconds, dSvcHealthy, dSvcInst,
	dNATSUp, dNATSReconnects, dStoreBytes, dStreams, dQStreamMsgs, dQStreamBytes, dQueueLeader, dOutboxLease}

// Describe is prometheus.Collector's.
func (c *sourced) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect is prometheus.Collector's: every source asked once.
func (c *sourced) Collect(ch chan<- prometheus.Metric) {
	e := emitter(ch)
	c.queue(e)
	c.network(e)
	c.plugins(e)
	c.services(e)
	c.store(e)
}

// emitter sends const metrics.
type emitter chan<- prometheus.Metric

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *sourced) queue(e emitter) {
	if f := c.s.Queue; f != nil {
		q := f()
		e.counter(dPushed, float64(q.Pushed))
		e.counter(dPopped, float64(q.Popped))
		e.counter(dPushedBytes, float64(q.PushedBytes))
		e.counter(dPoppedBytes, float64(q.PoppedBytes))
		e.gauge(dWaiting, float64(q.Waiting))
		e.gauge(dSessions, float64(q.Sessions))
		e.gauge(dHeldMsgs, float64(q.HeldMessages))
		e.gauge(dHeldBytes, float64(q.HeldBytes))
	}
}

func (c *sourced) network(e emitter) {
	if f := c.s.Network; f != nil {
		n := f()
		e.counter(dForwarded, float64(n.Forwarded))
		e.counter(dForwardedBytes, float64(n.ForwardedBytes))
		e.counter(dRetries, float64(n.Retries))
		e.counter(dParked, float64(n.Parked))
		e.gauge(dOutbox, float64(n.Waiting))
		for _, p := range n.Partners {
			e.gauge(dUp, bit(p.Up), p.NodeID)
			e.counter(dPForwarded, float64(p.Forwarded), p.NodeID)
			e.counter(dPForwardedB, float64(p.ForwardedBytes), p.NodeID)
			e.counter(dPRetries, float64(p.Retries), p.NodeID)
			e.gauge(dPOutbox, float64(p.Waiting), p.NodeID)
		}
	}
	if f := c.s.Routes; f != nil {
		by := make(map[network.State]int, len(partnerStates))
		for _, r := range f() {
			by[r.State]++
		}
		for _, s := range partnerStates {
			e.gauge(dPartners, float64(by[s]), string(s))
		}
	}
}

func (c *sourced) plugins(e emitter) {
	if c.s.Plugins == nil {
		return
	}
	for name, p := range c.s.Plugins() {
		kind := string(p.Kind)
		e.counter(dPluginCalls, float64(p.Calls), name, kind)
		e.counter(dPluginFailed, float64(p.Failed), name, kind)
		e.counter(dPluginMade, float64(p.Instances), name, kind)
		e.counter(dPluginDiscarded, float64(p.Discarded), name, kind)
		e <- prometheus.MustNewConstSummary(dPluginSeconds, uint64(max(p.Calls, 0)), time.Duration(p.CallNanos).Seconds(), nil, name, kind)
	}
}

func (c *sourced) services(e emitter) {
	if c.s.Services == nil {
		return
	}
	for _, s := range c.s.Services() {
		e.counter(dSvcRequests, float64(s.Requests), s.Route)
		e.counter(dSvcErrors, float64(s.Errors), s.Route)
		e.gauge(dSvcInFlight, float64(s.InFlight), s.Route)
		e.gauge(dSvcHealthy, float64(s.Healthy), s.Route)
		e.gauge(dSvcInst, float64(s.Instances), s.Route)
		e <- serviceHistogram(s)
	}
}

// serviceHistogram is the proxy's latency histogram of route s, in the
// proxy's own buckets (proxy.BucketBound).
func serviceHistogram(s proxy.RouteStats) prometheus.Metric {
	bounds := make(map[float64]uint64, len(s.Latency))
	var seen uint64
	for i, n := range s.Latency {
		seen += n
		if i < len(s.Latency)-1 { // the last bucket is +Inf
			bounds[proxy.BucketBound(i).Seconds()] = seen
		}
	}
	return prometheus.MustNewConstHistogram(dSvcSeconds, seen, s.LatencySum.Seconds(), bounds, s.Route)
}

func (c *sourced) store(e emitter) {
	if f := c.s.NATS; f != nil {
		n := f()
		e.gauge(dNATSUp, bit(n.Connected))
		e.counter(dNATSReconnects, float64(n.Reconnects))
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if f := c.s.Store; f != nil {
		if s, err := f(ctx); err == nil {
			e.gauge(dStoreBytes, float64(s.FileBytes), "file")
			e.gauge(dStoreBytes, float64(s.MemoryBytes), "memory")
			e.gauge(dStreams, float64(s.Streams))
			e.gauge(dQStreamMsgs, float64(s.QueueMessages))
			e.gauge(dQStreamBytes, float64(s.QueueBytes))
		}
	}
	if f := c.s.Roles; f != nil {
		r := f(ctx)
		e.gauge(dQueueLeader, bit(r.QueueLeader))
		e.gauge(dOutboxLease, bit(r.OutboxLease))
	}
}
