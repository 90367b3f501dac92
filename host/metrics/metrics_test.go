package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// everySource feeds every scrape-time metric, with distinct figures.
func everySource() Sources {
	return Sources{
		Queue: func() queue.Stats {
			return queue.Stats{Pushed: 7, Popped: 5, PushedBytes: 70, PoppedBytes: 50, Waiting: 2, Sessions: 1, HeldMessages: 2, HeldBytes: 20}
		},
		Network: func() network.Stats {
			return network.Stats{Forwarded: 3, ForwardedBytes: 30, Retries: 1, Parked: 4, Waiting: 1,
				Partners: []network.PartnerStats{{NodeID: "node-b", Up: true, Forwarded: 3, ForwardedBytes: 30, Retries: 1, Waiting: 1},
					{NodeID: "node-c"}}}
		},
		Routes: func() []network.Route {
			return []network.Route{{NodeID: "node-b", State: network.StateWoven}, {NodeID: "node-c", State: network.StatePending}}
		},
		Plugins: func() map[string]plugin.Stats {
			return map[string]plugin.Stats{"gzip": {Kind: "codec", Calls: 9, Failed: 1, Instances: 2, CallNanos: int64(9 * time.Millisecond)}}
		},
		Services: func() []proxy.RouteStats {
			return []proxy.RouteStats{{Route: "/hello", Requests: 3, Errors: 1, Healthy: 1, Instances: 2,
				Latency: []uint64{1, 0, 2}, LatencySum: 5 * time.Millisecond}}
		},
		NATS: func() NATS { return NATS{Connected: true, Reconnects: 2} },
		Store: func(context.Context) (Store, error) {
			return Store{FileBytes: 1 << 20, Streams: 5, QueueMessages: 3, QueueBytes: 300}, nil
		},
		Roles: func(context.Context) Roles { return Roles{QueueLeader: true} },
	}
}

// value is the value of the series of family name whose labels include
// want; -1 when there is none.
func value(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, want) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				case m.Summary != nil:
					return float64(m.Summary.GetSampleCount())
				}
			}
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// TestExpositionLints: every metric, fed, passes client_golang's linter
// (Prometheus naming: units, _total, base units) and gathers without an
// inconsistency.
func TestExpositionLints(t *testing.T) {
	m := New(Options{})
	m.Watch(everySource())
	m.Calls().Done(&Call{Op: OpPush, Transport: TransportGRPC, Code: ptp.OK, BytesIn: 3, Start: time.Now()})
	m.Calls().Popped(time.Millisecond, time.Now().Add(-time.Second))
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for name, want := range map[string]float64{
		"mesh_queue_pushed_messages_total": 7, "mesh_queue_sessions": 1, "mesh_queue_held_messages": 2, "mesh_queue_held_bytes": 20,
		"mesh_forwarded_messages_total": 3, "mesh_outbox_messages": 1, "mesh_nats_connected": 1,
		"mesh_nats_reconnects_total": 2, "mesh_replica_queue_leader": 1, "mesh_replica_outbox_lease": 0,
		"mesh_queue_stream_messages": 3, "mesh_jetstream_streams": 5,
	} {
		if got := value(t, m.Registry(), name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mesh_partner_up", map[string]string{"node_id": "node-b"}, 1},
		{"mesh_partner_up", map[string]string{"node_id": "node-c"}, 0},
		{"mesh_partners", map[string]string{"state": "woven"}, 1},
		{"mesh_partners", map[string]string{"state": "pending"}, 1},
		{"mesh_partners", map[string]string{"state": "disabled"}, 0},
		{"mesh_plugin_calls_total", map[string]string{"plugin": "gzip", "kind": "codec"}, 9},
		{"mesh_plugin_call_duration_seconds", map[string]string{"plugin": "gzip"}, 9},
		{"mesh_service_request_duration_seconds", map[string]string{"service": "/hello"}, 3},
		{"mesh_service_healthy_instances", map[string]string{"service": "/hello"}, 1},
		{"mesh_jetstream_storage_bytes", map[string]string{"type": "file"}, 1 << 20},
	} {
		if got := value(t, m.Registry(), c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestCallsCountByOpTransportCode: each call counts once under its
// operation, transport and code; a code outside the table under "other".
func TestCallsCountByOpTransportCode(t *testing.T) {
	m := New(Options{})
	c := m.Calls()
	for range 3 {
		c.Done(&Call{Op: OpPush, Transport: TransportHTTPRaw, Code: ptp.OK, BytesIn: 10, Start: time.Now()})
	}
	c.Done(&Call{Op: OpPop, Transport: TransportGRPC, Code: ptp.Timeout, BytesOut: 0, Start: time.Now()})
	c.Done(&Call{Op: OpPop, Transport: TransportGRPC, Code: "E0000000999", Start: time.Now()})
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mesh_requests_total", map[string]string{"operation": "push", "transport": "http-raw", "code": string(ptp.OK)}, 3},
		{"mesh_requests_total", map[string]string{"operation": "pop", "transport": "grpc", "code": string(ptp.Timeout)}, 1},
		{"mesh_requests_total", map[string]string{"operation": "pop", "transport": "grpc", "code": "other"}, 1},
		{"mesh_payload_received_bytes_total", map[string]string{"operation": "push"}, 30},
		{"mesh_request_duration_seconds", map[string]string{"operation": "push"}, 3},
		{"mesh_request_duration_seconds", map[string]string{"operation": "pop"}, 2},
	} {
		if got := value(t, m.Registry(), tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// A pop that took a message counts in both histograms; one that timed
	// out only in the wait.
	c.Popped(time.Millisecond, time.Now().Add(-time.Second))
	c.Popped(time.Millisecond, time.Time{})
	if w, s := value(t, m.Registry(), "mesh_pop_wait_seconds", nil), value(t, m.Registry(), "mesh_message_stored_seconds", nil); w != 2 || s != 1 {
		t.Errorf("pop wait count %v (want 2), stored count %v (want 1)", w, s)
	}
}

// TestNilCallsAreSafe: packages whose tests set no metrics call a nil
// *Calls.
func TestNilCallsAreSafe(t *testing.T) {
	var m *Metrics
	c := m.Calls()
	c.Done(&Call{Op: OpPush})
	c.Popped(time.Second, time.Now())
	if c.Logs() {
		t.Fatal("a nil Calls logs")
	}
}

// TestDoneAllocatesNothing: with the access log off, observing a call
// allocates nothing.
func TestDoneAllocatesNothing(t *testing.T) {
	c := New(Options{}).Calls()
	call := Call{Op: OpPop, Transport: TransportGRPC, Code: ptp.OK, BytesIn: 1, BytesOut: 2, Start: time.Now()}
	if n := testing.AllocsPerRun(1000, func() {
		c.Done(&call)
		c.Popped(time.Millisecond, call.Start)
	}); n != 0 {
		t.Fatalf("Done and Popped allocate %v times per call", n)
	}
}

// TestAccessLogLine: with the access log on, each call is one JSON line
// with the message "access" and every field.
func TestAccessLogLine(t *testing.T) {
	var buf bytes.Buffer
	c := New(Options{AccessLog: slog.New(slog.NewJSONHandler(&buf, nil))}).Calls()
	if !c.Logs() {
		t.Fatal("access log on, Logs false")
	}
	c.Done(&Call{Op: OpPush, Transport: TransportHTTP, Code: ptp.OK, Session: "s1", Topic: "t1", BytesIn: 5, BytesOut: 0,
		Start: time.Now().Add(-1500 * time.Microsecond), Caller: "partner", CallerID: "node-a", Remote: "10.0.0.1"})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %q", buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": AccessMessage, fieldOp: "push", fieldTransport: "http", fieldSession: "s1", fieldTopic: "t1",
		fieldCode: string(ptp.OK), fieldBytesIn: 5.0, fieldBytesOut: 0.0, fieldCaller: "partner", fieldCallerID: "node-a", fieldRemote: "10.0.0.1"} {
		if got[k] != want {
			t.Errorf("field %s = %v, want %v (line %s)", k, got[k], want, lines[0])
		}
	}
	if d, _ := got[fieldDuration].(float64); d < 1.5 {
		t.Errorf("duration_ms %v, want at least 1.5", got[fieldDuration])
	}
}
