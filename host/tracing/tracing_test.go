package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
)

func TestTraceIDOf(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{" 4bf92f3577b34da6a3ce929d0e0e4736 ", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"},
	} {
		if got := TraceIDOf(c.in).String(); got != c.want {
			t.Errorf("TraceIDOf(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	// Any other string maps to a valid id, the same on every node.
	for _, s := range []string{"order-42", "00000000000000000000000000000000", "x"} {
		a, b := TraceIDOf(s), TraceIDOf(s)
		if !a.IsValid() || a != b {
			t.Errorf("TraceIDOf(%q) = %s, %s", s, a, b)
		}
	}
	if TraceIDOf("order-42") == TraceIDOf("order-43") {
		t.Error("two ids map to one trace")
	}
}

func TestRemote(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc := Context{Parent: tp, State: "bank=1", TraceID: "order-42"}.Remote()
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" ||
		!sc.IsRemote() || !sc.IsSampled() || sc.TraceState().Get("bank") != "1" {
		t.Fatalf("traceparent wins over x-ptp-trace-id: %+v", sc)
	}
	sc = Context{Parent: "garbage", TraceID: "order-42"}.Remote()
	if sc.TraceID() != TraceIDOf("order-42") || !sc.SpanID().IsValid() || !sc.IsSampled() {
		t.Fatalf("an invalid traceparent falls back to x-ptp-trace-id: %+v", sc)
	}
	if (Context{}).Remote().IsValid() || (Context{TraceID: "  "}).Remote().IsValid() {
		t.Fatal("no context makes no parent")
	}
}

func TestOutgoing(t *testing.T) {
	c := Context{TraceID: "order-42", Parent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", State: "bank=1"}
	if got := Outgoing(context.Background(), c); got != c {
		t.Fatalf("without a span the context passes verbatim: %+v", got)
	}
	rec := tracetest.NewSpanRecorder()
	tr := &Tracer{t: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer(Scope)}
	ctx, sp := tr.Start(context.Background(), Span{Name: "x", From: c})
	defer sp.End()
	got := Outgoing(ctx, c)
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + sp.SpanContext().SpanID().String() + "-01"
	if got.Parent != want || got.TraceID != "order-42" || got.State != "bank=1" {
		t.Fatalf("with a span: %+v, want traceparent %s and the PTP id verbatim", got, want)
	}
	if got := Outgoing(ctx, Context{}); got.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("without a PTP id the trace id goes as one: %+v", got)
	}
}

// TestOffAllocatesNothing: tracing off costs the hot path no allocation.
func TestOffAllocatesNothing(t *testing.T) {
	var off *Tracer
	md := map[string]string{"k": "v"}
	n := testing.AllocsPerRun(100, func() {
		ctx, sp := off.Start(context.Background(), Span{Name: SpanPush, Kind: trace.SpanKindServer, From: FromMap(md)})
		_ = Outgoing(ctx, FromMap(md)).With(md)
		cctx, child := Child(ctx, SpanPlugin)
		End(child, nil)
		_ = cctx
		End(sp, nil)
	})
	if n != 0 {
		t.Fatalf("%v allocations per call with tracing off", n)
	}
}

func TestWithCopiesOnlyWhenItAdds(t *testing.T) {
	md := map[string]string{"k": "v"}
	if got := (Context{}).With(md); len(got) != 1 {
		t.Fatal("empty context changed the map")
	}
	got := Context{TraceID: "t"}.With(md)
	if got[ptp.HeaderTraceID] != "t" || md[ptp.HeaderTraceID] != "" || got["k"] != "v" {
		t.Fatalf("With wrote into its argument or lost a key: %v %v", got, md)
	}
}

func TestEndpointURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"collector:4318", "http://collector:4318/v1/traces"},
		{"http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"},
		{"https://otel.example:443/", "https://otel.example:443/v1/traces"},
		{"https://otel.example/custom/path", "https://otel.example/custom/path"},
	} {
		if got, err := endpointURL(c.in); err != nil || got != c.want {
			t.Errorf("endpointURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://x:1", "http://", "::"} {
		if _, err := endpointURL(bad); err == nil {
			t.Errorf("endpointURL(%q) accepted", bad)
		}
	}
}

func TestNewOffByDefault(t *testing.T) {
	tr, err := New(context.Background(), Config{})
	if err != nil || tr != nil || tr.On() {
		t.Fatalf("no endpoint, no provider: %v %v", tr, err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExporterFlushesOnShutdown: with an endpoint, spans reach a real
// OTLP/HTTP receiver on loopback, at the latest when Shutdown flushes.
func TestExporterFlushesOnShutdown(t *testing.T) {
	var posts atomic.Int64
	var ctype, got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			b, _ := io.ReadAll(r.Body)
			var req coltrace.ExportTraceServiceRequest
			if proto.Unmarshal(b, &req) == nil && len(req.ResourceSpans) > 0 {
				ctype.Store(r.Header.Get("Content-Type"))
				got.Store(&req)
				posts.Add(1)
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	tr, err := New(context.Background(), Config{Endpoint: srv.URL, Replica: "r1", NodeID: "node-a"})
	if err != nil || !tr.On() {
		t.Fatalf("New: %v %v", tr, err)
	}
	_, sp := tr.Start(context.Background(), Span{Name: SpanPush, Kind: trace.SpanKindServer})
	sp.End()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 || ctype.Load() != "application/x-protobuf" {
		t.Fatalf("receiver got %d posts (content type %v)", posts.Load(), ctype.Load())
	}
	rs := got.Load().(*coltrace.ExportTraceServiceRequest).ResourceSpans[0]
	res := map[string]string{}
	for _, kv := range rs.GetResource().GetAttributes() {
		res[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if res["service.name"] != ServiceName || res["service.instance.id"] != "r1" || res[AttrNodeID] != "node-a" {
		t.Errorf("resource: %v", res)
	}
	if s := rs.GetScopeSpans()[0].GetSpans()[0]; s.GetName() != SpanPush {
		t.Errorf("span %q exported, want %s", s.GetName(), SpanPush)
	}
}

// TestNonASCIITraceHeadersAreIgnored: a trace value with bytes outside
// printable ASCII (an HTTP caller's UTF-8 x-ptp-trace-id) cannot ride in
// gRPC or stored metadata, so it is dropped, not carried, and not refused.
func TestNonASCIITraceHeadersAreIgnored(t *testing.T) {
	h := http.Header{}
	h.Set("X-Ptp-Trace-Id", "跟踪-1")
	h.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.Set("Tracestate", "a=\x01")
	got := FromHTTP(h)
	want := Context{Parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	if got != want {
		t.Errorf("FromHTTP = %+v, want %+v", got, want)
	}
	if got := Read(func(k string) string { return h.Get(k) }); got != want {
		t.Errorf("Read = %+v, want %+v", got, want)
	}
}
