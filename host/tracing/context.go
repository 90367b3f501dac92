package tracing

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ppcmesh/mesh/host/ptp"
)

// W3C Trace Context headers (lower case, as in gRPC metadata and stored
// message metadata).
const (
	HeaderParent = "traceparent"
	HeaderState  = "tracestate"
)

// MaxValue bounds each of a Context's values that a message stores and
// carries on (W3C's own bound of tracestate): a node refuses a push whose
// trace headers are longer, as it refuses oversized metadata.
const MaxValue = 512

// Context is the trace context a message or call carries, as it came:
// PTP's x-ptp-trace-id (any string, kept verbatim) and W3C's traceparent
// and tracestate. It travels in HTTP headers, gRPC metadata and a stored
// message's metadata under those three names.
type Context struct {
	TraceID string // x-ptp-trace-id
	Parent  string // traceparent
	State   string // tracestate
}

// Read reads a Context with get, which looks a header up by its lower-case
// name.
func Read(get func(name string) string) Context {
	return Context{TraceID: carried(get(ptp.HeaderTraceID)), Parent: carried(get(HeaderParent)), State: carried(get(HeaderState))}
}

// carried is v when it can travel on: printable ASCII, which gRPC metadata
// and stored metadata require. A value with other bytes (an HTTP caller's
// UTF-8 x-ptp-trace-id) is no trace context the node can pass on, so it is
// ignored, as nodes before tracing ignored every trace header, rather than
// refusing the call it came with.
func carried(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return ""
		}
	}
	return v
}

// FromMap reads a Context from metadata keyed in lower case (a stored
// message's, an outbound delivery's).
func FromMap(md map[string]string) Context {
	return Context{TraceID: md[ptp.HeaderTraceID], Parent: md[HeaderParent], State: md[HeaderState]}
}

// FromHTTP reads a Context from HTTP headers.
func FromHTTP(h http.Header) Context {
	return Context{TraceID: carried(first(h, canonTraceID)), Parent: carried(first(h, canonParent)), State: carried(first(h, canonState))}
}

// Canonical HTTP spellings, so that reading them allocates nothing.
const (
	canonTraceID = "X-Ptp-Trace-Id"
	canonParent  = "Traceparent"
	canonState   = "Tracestate"
)

func first(h http.Header, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// IsZero reports whether c carries nothing.
func (c Context) IsZero() bool { return c == Context{} }

// Put sets c's non-empty values in md, under their lower-case names.
func (c Context) Put(md map[string]string) {
	if c.TraceID != "" {
		md[ptp.HeaderTraceID] = c.TraceID
	}
	if c.Parent != "" {
		md[HeaderParent] = c.Parent
	}
	if c.State != "" {
		md[HeaderState] = c.State
	}
}

// PutHTTP sets c's non-empty values in h, replacing what h had.
func (c Context) PutHTTP(h http.Header) {
	if c.TraceID != "" {
		h[canonTraceID] = []string{c.TraceID}
	}
	if c.Parent != "" {
		h[canonParent] = []string{c.Parent}
	}
	if c.State != "" {
		h[canonState] = []string{c.State}
	}
}

// With is md with c added: md itself when c is empty, else a copy.
func (c Context) With(md map[string]string) map[string]string {
	if c.IsZero() {
		return md
	}
	out := make(map[string]string, len(md)+3)
	for k, v := range md {
		out[k] = v
	}
	c.Put(out)
	return out
}

// Outgoing is the context to send on from ctx: with a span in ctx, that
// span's traceparent and tracestate, and c's x-ptp-trace-id verbatim (or,
// when c has none, the trace id in hex, for peers that read only PTP's
// header); without one (tracing off), c unchanged.
func Outgoing(ctx context.Context, c Context) Context {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return c
	}
	out := Context{TraceID: c.TraceID, Parent: traceparent(sc), State: sc.TraceState().String()}
	if out.TraceID == "" {
		out.TraceID = sc.TraceID().String()
	}
	return out
}

// traceparent is the W3C traceparent of sc.
func traceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// Remote is the span context c names: its traceparent (with tracestate)
// when valid, else one made from x-ptp-trace-id (see TraceIDOf), sampled,
// under a parent span id derived from it (no span has that id: the trace
// began with the caller, who gave no span); invalid when c has neither.
func (c Context) Remote() trace.SpanContext {
	if c.Parent != "" {
		carrier := propagation.MapCarrier{HeaderParent: c.Parent}
		if c.State != "" {
			carrier[HeaderState] = c.State
		}
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
		if sc.IsValid() {
			return sc
		}
	}
	if strings.TrimSpace(c.TraceID) == "" {
		return trace.SpanContext{}
	}
	tid, sid := TraceIDOf(c.TraceID), phantomSpan(c.TraceID)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// TraceIDOf maps an x-ptp-trace-id to a trace id: 32 hex digits (any case)
// or a UUID are that id; any other string (PTP allows any) is the first 16
// bytes of its SHA-256, so every node maps it alike. The header itself
// travels on unchanged.
func TraceIDOf(id string) trace.TraceID {
	s := strings.ToLower(strings.TrimSpace(id))
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		s = strings.ReplaceAll(s, "-", "")
	}
	if tid, err := trace.TraceIDFromHex(s); err == nil && tid.IsValid() {
		return tid
	}
	sum := sha256.Sum256([]byte(id))
	var tid trace.TraceID
	copy(tid[:], sum[:16])
	return tid
}

// phantomSpan is the parent span id of a trace begun from x-ptp-trace-id
// alone: derived from it, never zero.
func phantomSpan(id string) trace.SpanID {
	sum := sha256.Sum256([]byte("span\x00" + id))
	var sid trace.SpanID
	copy(sid[:], sum[:8])
	if !sid.IsValid() {
		sid[7] = 1
	}
	return sid
}
