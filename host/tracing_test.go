package host_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/tracing"
)

// recorded starts a node whose spans an in-memory recorder keeps; with
// traced false, a node with tracing off (and a recorder nothing feeds).
func recorded(t *testing.T, traced bool) (*meshtest.Node, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	if !traced {
		return meshtest.Start(t, host.Config{}), rec
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return meshtest.Start(t, host.Config{TracerProvider: tp}), rec
}

// tracedPair is two nodes, traced or not, identified and woven, B at its
// address under scheme (empty: gRPC; https://: the HTTP invoke form).
func tracedPair(t *testing.T, scheme string, traced bool) (a, b *meshtest.Node, ra, rb *tracetest.SpanRecorder) {
	t.Helper()
	a, ra = recorded(t, traced)
	b, rb = recorded(t, traced)
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, map[string]any{"address": scheme + b.Addr})
	return a, b, ra, rb
}

// The container's span, and a PTP trace id that is not hex.
const (
	containerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	containerSpan  = "00f067aa0ba902b7"
	containerTP    = "00-" + containerTrace + "-" + containerSpan + "-01"
	otherTrace     = "5bf92f3577b34da6a3ce929d0e0e4737"
	hexTraceID     = "0AF7651916CD43DD8448EB211C80319C" // upper case: still that trace id
)

// push sends one message from a container at n to node-b, over wire
// ("http" or "grpc"), with the trace headers hdr.
func push(t *testing.T, n *meshtest.Node, wire, session string, hdr map[string]string) {
	t.Helper()
	if wire == "http" {
		h := map[string]string{ptp.HeaderSessionID: session, ptp.HeaderTargetNodeID: "node-b"}
		for k, v := range hdr {
			h[k] = v
		}
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("hello")})
		if r.Code != ptp.OK {
			t.Fatalf("push over http: %s", r.Body)
		}
		return
	}
	md := metadata.Pairs(ptp.HeaderSessionID, session, ptp.HeaderTargetNodeID, "node-b")
	for k, v := range hdr {
		md.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(t.Context(), md), 30*time.Second)
	defer cancel()
	out, err := ptp.NewPrivateTransferTransportClient(meshtest.Dial(t, n.Addr)).Push(ctx, &ptp.PushInbound{Topic: "t", Payload: []byte("hello")})
	if err != nil || out.Code != string(ptp.OK) {
		t.Fatalf("push over grpc: %v %v", out, err)
	}
}

// pop takes the message of session from n, as a container that sends no
// trace context, and returns its metadata.
func pop(t *testing.T, n *meshtest.Node, session string) map[string]string {
	t.Helper()
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/pop", map[string]string{ptp.HeaderSessionID: session},
		map[string]any{"topic": "t", "timeout": 20000})
	if r.Code != ptp.OK || string(r.Bytes()) != "hello" {
		t.Fatalf("pop at %s: %s", n.ID, r.Body)
	}
	return r.Metadata
}

// span is the one span named name of trace tid in rec, waiting for it to
// end.
func span(t *testing.T, rec *tracetest.SpanRecorder, name string, tid trace.TraceID) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	meshtest.WaitFor(t, 10*time.Second, name+" of trace "+tid.String(), func() bool {
		found = found[:0]
		for _, s := range rec.Ended() {
			if s.Name() == name && s.SpanContext().TraceID() == tid {
				found = append(found, s)
			}
		}
		return len(found) > 0
	})
	if len(found) != 1 {
		t.Fatalf("%d spans %s in trace %s, want 1", len(found), name, tid)
	}
	return found[0]
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestTraceFollowsMessageAToB: one message a container at A pushes to B,
// and a container at B pops, makes one trace across both nodes — push at
// A (child of the container's span), forward at A, receive at B (child of
// the forward, across the mTLS hop), pop at B (child of the receive) —
// whether the container sent a traceparent or only x-ptp-trace-id, over
// gRPC and HTTP, to a partner over gRPC (transport streams) and HTTPS.
func TestTraceFollowsMessageAToB(t *testing.T) {
	for _, scheme := range []string{"", "https://"} {
		a, b, ra, rb := tracedPair(t, scheme, true)
		for _, c := range []struct {
			name, wire string
			hdr        map[string]string
			tid        string
			parent     string // the push span's parent span id
		}{
			{"traceparent/http", "http", map[string]string{"traceparent": containerTP}, containerTrace, containerSpan},
			{"traceparent/grpc", "grpc", map[string]string{"traceparent": "00-" + otherTrace + "-" + containerSpan + "-01", "tracestate": "bank=1"}, otherTrace, containerSpan},
			{"ptp-trace-id/http", "http", map[string]string{ptp.HeaderTraceID: hexTraceID}, strings.ToLower(hexTraceID), ""},
			{"ptp-trace-id/grpc", "grpc", map[string]string{ptp.HeaderTraceID: "order-42"}, tracing.TraceIDOf("order-42").String(), ""},
		} {
			t.Run(scheme+c.name, func(t *testing.T) {
				session := "s-" + strings.NewReplacer("/", "-", ":", "").Replace(scheme+c.name)
				push(t, a, c.wire, session, c.hdr)
				md := pop(t, b, session)
				tid, _ := trace.TraceIDFromHex(c.tid)
				pushA, fwd := span(t, ra, tracing.SpanPush, tid), span(t, ra, tracing.SpanForward, tid)
				recv, popB := span(t, rb, tracing.SpanReceive, tid), span(t, rb, tracing.SpanPop, tid)
				if c.parent != "" && pushA.Parent().SpanID().String() != c.parent {
					t.Errorf("push at A: parent %s, want the container's %s", pushA.Parent().SpanID(), c.parent)
				}
				if fwd.Parent().SpanID() != pushA.SpanContext().SpanID() {
					t.Errorf("forward at A is not a child of the push")
				}
				if recv.Parent().SpanID() != fwd.SpanContext().SpanID() || !recv.Parent().IsRemote() {
					t.Errorf("receive at B: parent %s, want A's forward %s", recv.Parent().SpanID(), fwd.SpanContext().SpanID())
				}
				if popB.Parent().SpanID() != recv.SpanContext().SpanID() {
					t.Errorf("pop at B: parent %s, want the receive %s", popB.Parent().SpanID(), recv.SpanContext().SpanID())
				}
				if got := attr(fwd, tracing.AttrPartner); got != "node-b" {
					t.Errorf("forward's partner: %q", got)
				}
				if got, want := attr(fwd, tracing.AttrTransport), map[string]string{"": "grpc-stream", "https://": "http"}[scheme]; got != want {
					t.Errorf("forward's transport: %q, want %q", got, want)
				}
				if got := attr(recv, tracing.AttrPartner); got != "node-a" {
					t.Errorf("receive's partner: %q", got)
				}
				// The popped message lets the container at B continue.
				if want := "00-" + c.tid + "-" + popB.SpanContext().SpanID().String() + "-01"; md["traceparent"] != want {
					t.Errorf("popped traceparent %q, want %q", md["traceparent"], want)
				}
				if want := cmpOr(c.hdr[ptp.HeaderTraceID], c.tid); md[ptp.HeaderTraceID] != want {
					t.Errorf("popped x-ptp-trace-id %q, want %q (verbatim)", md[ptp.HeaderTraceID], want)
				}
				if st := c.hdr["tracestate"]; st != "" && md["tracestate"] != st {
					t.Errorf("popped tracestate %q, want %q", md["tracestate"], st)
				}
				if md[ptp.HeaderSourceNodeID] != "node-a" {
					t.Errorf("popped source node %q: trace headers must not disturb provenance", md[ptp.HeaderSourceNodeID])
				}
			})
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestTracingOffPassesHeadersVerbatim: with tracing off (the default) the
// trace headers a container sent reach the container at B unchanged, over
// both partner transports, and a message sent without them arrives
// without them: the node invents no trace context.
func TestTracingOffPassesHeadersVerbatim(t *testing.T) {
	for _, scheme := range []string{"", "https://"} {
		a, b, _, _ := tracedPair(t, scheme, false)
		given := map[string]string{"traceparent": containerTP, "tracestate": "bank=1", ptp.HeaderTraceID: "order-7"}
		push(t, a, "http", "with"+scheme, given)
		push(t, a, "grpc", "without"+scheme, nil)
		md := pop(t, b, "with"+scheme)
		for k, v := range given {
			if md[k] != v {
				t.Errorf("%spopped %s = %q, want %q verbatim", scheme, k, md[k], v)
			}
		}
		md = pop(t, b, "without"+scheme)
		for k := range given {
			if v, ok := md[k]; ok {
				t.Errorf("%spopped %s = %q from a push that sent none", scheme, k, v)
			}
		}
	}
}

// traceUpstream is an HTTP upstream that keeps the last request's trace
// headers.
func traceUpstream(t *testing.T) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var last atomic.Value
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last.Store(tracing.FromHTTP(r.Header))
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s, &last
}

// proxied calls /a/b/c on n over HTTP and gRPC with the trace headers hdr
// and returns what each upstream received.
func proxied(t *testing.T, n *meshtest.Node, hdr map[string]string) (web, rpc tracing.Context) {
	t.Helper()
	up, last := traceUpstream(t)
	g := meshtest.StartGRPCUpstream(t, "rpc")
	register(t, n, guide(hostPort(up), hostPort(up), g.Addr), ptp.OK)
	if code, body := fetch(t, nil, http.MethodPost, n.URL+"/a/b/c", hdr, "x"); code != 200 || body != "ok" {
		t.Fatalf("HTTP through the node: %d %q", code, body)
	}
	md := metadata.New(hdr)
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(t.Context(), md), 30*time.Second)
	defer cancel()
	if _, err := echoCall(ctx, meshtest.Dial(t, n.Addr), "/a/b/c", "m"); err != nil {
		t.Fatalf("gRPC through the node: %v", err)
	}
	got, _ := g.Last.Load().(metadata.MD)
	first := func(k string) string {
		if v := got.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	web, _ = last.Load().(tracing.Context)
	return web, tracing.Read(first)
}

// TestTraceReachesUpstream: a call the node proxies to a registered
// service's upstream, HTTP and gRPC, makes a proxy span under the caller's
// and sends the upstream a traceparent naming that span; the caller's
// x-ptp-trace-id goes on verbatim.
func TestTraceReachesUpstream(t *testing.T) {
	n, rec := recorded(t, true)
	web, rpc := proxied(t, n, map[string]string{"traceparent": containerTP, ptp.HeaderTraceID: "order-9"})
	tid, _ := trace.TraceIDFromHex(containerTrace)
	var spans []sdktrace.ReadOnlySpan
	meshtest.WaitFor(t, 10*time.Second, "two proxy spans", func() bool {
		spans = spans[:0]
		for _, s := range rec.Ended() {
			if s.Name() == tracing.SpanProxy && s.SpanContext().TraceID() == tid {
				spans = append(spans, s)
			}
		}
		return len(spans) == 2
	})
	for i, got := range []tracing.Context{web, rpc} {
		proto := []string{"http", "grpc"}[i]
		var sp sdktrace.ReadOnlySpan
		for _, s := range spans {
			if attr(s, tracing.AttrProto) == proto {
				sp = s
			}
		}
		if sp == nil {
			t.Fatalf("no %s proxy span", proto)
		}
		if sp.Parent().SpanID().String() != containerSpan {
			t.Errorf("%s proxy span's parent %s, want the caller's", proto, sp.Parent().SpanID())
		}
		if want := "00-" + containerTrace + "-" + sp.SpanContext().SpanID().String() + "-01"; got.Parent != want || got.TraceID != "order-9" {
			t.Errorf("%s upstream received %+v, want traceparent %s and x-ptp-trace-id order-9", proto, got, want)
		}
	}
}

// TestTracingOffUpstreamGetsCallerHeaders: with tracing off the upstream
// sees the caller's trace headers unchanged, and none the caller did not
// send.
func TestTracingOffUpstreamGetsCallerHeaders(t *testing.T) {
	n, _ := recorded(t, false)
	given := map[string]string{"traceparent": containerTP, "tracestate": "bank=1", ptp.HeaderTraceID: "order-9"}
	want := tracing.Context{TraceID: "order-9", Parent: containerTP, State: "bank=1"}
	if web, rpc := proxied(t, n, given); web != want || rpc != want {
		t.Fatalf("upstreams received %+v and %+v, want %+v", web, rpc, want)
	}
	m, _ := recorded(t, false)
	if web, rpc := proxied(t, m, nil); !web.IsZero() || !rpc.IsZero() {
		t.Fatalf("upstreams received %+v and %+v from a caller that sent none", web, rpc)
	}
}

// TestTracePluginCalls: the codec calls a traced message makes are spans
// of their own, children of the call that made them: encode under the
// push at A, decode under the receive at B.
func TestTracePluginCalls(t *testing.T) {
	gz := plugintest.Build(t, "plugins/gzip")
	a, b, ra, rb := tracedPair(t, "", true)
	a.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	b.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "codec": "gzip"}, ptp.OK)
	push(t, a, "http", "gz", map[string]string{"traceparent": containerTP})
	pop(t, b, "gz")
	tid, _ := trace.TraceIDFromHex(containerTrace)
	for _, c := range []struct {
		rec        *tracetest.SpanRecorder
		parent, fn string
	}{{ra, tracing.SpanPush, "encode"}, {rb, tracing.SpanReceive, "decode"}} {
		call, parent := span(t, c.rec, tracing.SpanPlugin, tid), span(t, c.rec, c.parent, tid)
		if call.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s plugin span is not a child of %s", c.fn, c.parent)
		}
		if attr(call, tracing.AttrPluginName) != "gzip" || attr(call, tracing.AttrPluginKind) != "codec" || attr(call, tracing.AttrPluginCall) != c.fn {
			t.Errorf("plugin span attributes: %v", call.Attributes())
		}
	}
}

// TestTracesFlushedOnStop: with --otlp-endpoint, the node exports its
// spans over OTLP/HTTP to a real receiver, and flushes those not yet sent
// when it stops.
func TestTracesFlushedOnStop(t *testing.T) {
	var posts atomic.Int64
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); r.URL.Path == "/v1/traces" && len(b) > 0 {
			posts.Add(1)
		}
	}))
	defer col.Close()
	n := meshtest.Start(t, host.Config{OTLPEndpoint: col.URL})
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", map[string]string{ptp.HeaderSessionID: "s", "traceparent": containerTP},
		map[string]any{"topic": "t", "payload": []byte("x")})
	if r.Code != ptp.OK {
		t.Fatalf("push: %s", r.Body)
	}
	n.Stop(t)
	if posts.Load() == 0 {
		t.Fatal("no spans reached the collector by the time the node stopped")
	}
}

// TestTraceRouteHandler: a call a route handler plugin serves is a
// mesh.route span under the caller's, with the handler's plugin call as
// its child.
func TestTraceRouteHandler(t *testing.T) {
	n, rec := recorded(t, true)
	n.Install(t, "hello", plugintest.Build(t, "plugins/route"), map[string]string{"routes": "/hello=respond:200:hi"},
		plugin.Options{Prefixes: []string{"/hello"}}, ptp.OK)
	if code, body := fetch(t, nil, http.MethodGet, n.URL+"/hello", map[string]string{"traceparent": containerTP}, ""); code != 200 || body != "hi" {
		t.Fatalf("route handler: %d %q", code, body)
	}
	tid, _ := trace.TraceIDFromHex(containerTrace)
	route, call := span(t, rec, tracing.SpanRoute, tid), span(t, rec, tracing.SpanPlugin, tid)
	if route.Parent().SpanID().String() != containerSpan || call.Parent().SpanID() != route.SpanContext().SpanID() {
		t.Fatalf("route span under %s, plugin call under %s", route.Parent().SpanID(), call.Parent().SpanID())
	}
	if attr(call, tracing.AttrPluginKind) != "route" || attr(call, tracing.AttrPluginName) != "hello" {
		t.Fatalf("plugin call attributes: %v", call.Attributes())
	}
}

// TestTraceOutboxContinues: a message parked in the outbox while B is down
// keeps its trace context: the outbox's later delivery is a forward span
// under the push, and B's receive continues it.
func TestTraceOutboxContinues(t *testing.T) {
	homeB := t.TempDir()
	a, ra := recorded(t, true)
	b := meshtest.Start(t, host.Config{Home: homeB})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, map[string]any{"outbox": true})
	b.Stop(t)
	h := meshtest.Session("parked", ptp.HeaderTargetNodeID, "node-b", "traceparent", containerTP)
	if r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("hello")}); r.Code != ptp.OK || r.Metadata[ptp.HeaderDelivery] != "queued" {
		t.Fatalf("push with B down: %s", r.Body)
	}
	rb := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rb))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b = restart(t, b, homeB, host.Config{TracerProvider: tp})
	pop(t, b, "parked")
	tid, _ := trace.TraceIDFromHex(containerTrace)
	pushA, recv := span(t, ra, tracing.SpanPush, tid), span(t, rb, tracing.SpanReceive, tid)
	var delivered sdktrace.ReadOnlySpan
	meshtest.WaitFor(t, 10*time.Second, "the outbox's forward", func() bool {
		for _, s := range ra.Ended() {
			if s.Name() == tracing.SpanForward && s.SpanContext().TraceID() == tid && s.SpanContext().SpanID() == recv.Parent().SpanID() {
				delivered = s
			}
		}
		return delivered != nil
	})
	if delivered.Parent().SpanID() != pushA.SpanContext().SpanID() || attr(pushA, tracing.AttrDelivery) != "queued" {
		t.Fatalf("outbox forward under %s, want the push %s (delivery %q)", delivered.Parent().SpanID(), pushA.SpanContext().SpanID(), attr(pushA, tracing.AttrDelivery))
	}
}

// TestTraceHeadersBounded: a push whose trace headers exceed
// tracing.MaxValue is refused with 400 naming the header, traced or not,
// rather than stored or forwarded.
func TestTraceHeadersBounded(t *testing.T) {
	n, _ := recorded(t, false)
	for _, k := range []string{ptp.HeaderTraceID, "traceparent", "tracestate"} {
		h := map[string]string{ptp.HeaderSessionID: "s", k: strings.Repeat("a", tracing.MaxValue+1)}
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("x")})
		if r.Code != ptp.BadRequest || !strings.Contains(r.Message, k) {
			t.Errorf("push with a long %s: %s", k, r.Body)
		}
	}
	h := map[string]string{ptp.HeaderSessionID: "s", ptp.HeaderTraceID: strings.Repeat("a", tracing.MaxValue)}
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("x")}); r.Code != ptp.OK {
		t.Errorf("push with a trace id of the limit: %s", r.Body)
	}
}

// TestTraceReachesEveryDialect: the older Mesh and Kuscia, emulated, over
// gRPC and HTTP, each receive the forward span's traceparent and the trace
// id as x-ptp-trace-id (the container sent only a traceparent).
func TestTraceReachesEveryDialect(t *testing.T) {
	a, rec := recorded(t, true)
	a.Identify(t, "node-a", "inst-a")
	legacy, kuscia := legacyPeer(t), kusciaPeer(t)
	peers := map[string]*emulatedPeer{"legacy-g": legacy, "legacy-h": legacy, "kuscia-g": kuscia, "kuscia-h": kuscia}
	trustedRoute(t, a, "legacy-g", "grpc://"+legacy.grpcAddr, ptp.DialectLegacy)
	trustedRoute(t, a, "legacy-h", "http://"+legacy.httpAddr, ptp.DialectLegacy)
	trustedRoute(t, a, "kuscia-g", "grpc://"+kuscia.grpcAddr, ptp.DialectKuscia)
	trustedRoute(t, a, "kuscia-h", "http://"+kuscia.httpAddr, ptp.DialectKuscia)
	for i, id := range []string{"legacy-g", "legacy-h", "kuscia-g", "kuscia-h"} {
		tid := fmt.Sprintf("%032x", i+1)
		h := meshtest.Session("s", ptp.HeaderTargetNodeID, id, "traceparent", "00-"+tid+"-"+containerSpan+"-01")
		if r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": "t", "payload": []byte("x")}); r.Code != ptp.OK {
			t.Fatalf("push to %s: %s", id, r.Body)
		}
		got := peers[id].received()
		md := got[len(got)-1].md
		traceID, _ := trace.TraceIDFromHex(tid)
		fwd := span(t, rec, tracing.SpanForward, traceID)
		if want := "00-" + tid + "-" + fwd.SpanContext().SpanID().String() + "-01"; md["traceparent"] != want || md[ptp.HeaderTraceID] != tid {
			t.Errorf("%s received traceparent %q and x-ptp-trace-id %q, want %q and %q", id, md["traceparent"], md[ptp.HeaderTraceID], want, tid)
		}
	}
}
