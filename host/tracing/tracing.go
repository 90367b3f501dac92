// Package tracing is the node's OpenTelemetry tracing: the tracer provider
// built from the OTLP endpoint (off when none is set), the span names and
// attribute keys the node records, and the trace context a message carries
// between containers, partners and upstreams (see Context).
//
// Off is the default and costs the hot path nothing: a nil *Tracer starts
// no span and allocates nothing, and the trace headers a caller sent pass
// on verbatim.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Scope is the instrumentation scope of every span the node makes.
const Scope = "github.com/ppcmesh/mesh/host"

// ServiceName is the service.name of the node's spans.
const ServiceName = "mesh"

// Config is what a Tracer is built from.
type Config struct {
	// Endpoint is the OTLP/HTTP collector: a URL (http:// or https://; an
	// empty path means /v1/traces) or host:port (plain HTTP). Empty, with
	// no Provider: tracing is off.
	Endpoint string
	// Provider, when set, is used instead of an exporter (tests inject an
	// in-memory recorder); its owner shuts it down.
	Provider trace.TracerProvider
	NodeID   string // the node id at start, a resource attribute (spans carry the current one)
	Replica  string // this replica's name: service.instance.id
}

// Tracer starts the node's spans. A nil *Tracer is tracing off.
type Tracer struct {
	t        trace.Tracer
	shutdown func(context.Context) error // flushes and stops the provider New built; nil for an injected one
}

// New builds the Tracer of c: nil (off) when c names neither an endpoint
// nor a provider. The exporter batches spans and sends them in the
// background; Shutdown flushes them.
func New(ctx context.Context, c Config) (*Tracer, error) {
	if c.Provider != nil {
		return &Tracer{t: c.Provider.Tracer(Scope)}, nil
	}
	if c.Endpoint == "" {
		return nil, nil
	}
	u, err := endpointURL(c.Endpoint)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter %s: %w", u, err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", ServiceName), attribute.String("service.instance.id", c.Replica)}
	if c.NodeID != "" {
		attrs = append(attrs, attribute.String(AttrNodeID, c.NodeID))
	}
	// The SDK's defaults (telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES) under
	// the node's own attributes, which win.
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracer{t: tp.Tracer(Scope), shutdown: tp.Shutdown}, nil
}

// endpointURL is the exporter URL of endpoint: host:port means plain HTTP,
// and an empty path the OTLP traces path.
func endpointURL(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("otlp endpoint %q: want http://host:port, https://host:port or host:port", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// On reports whether t records spans.
func (t *Tracer) On() bool { return t != nil }

// Shutdown flushes the spans not yet exported and stops the exporter, for
// at most ctx's time. A nil Tracer, or one over an injected provider, has
// nothing to do.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// Span describes a span to start.
type Span struct {
	Name  string
	Kind  trace.SpanKind
	From  Context   // the remote parent, used when ctx holds no span
	Start time.Time // zero: now
	Link  Context   // a related context, linked when valid (a popped message's)
}

// off is the span of tracing off: it records nothing and costs nothing.
var off trace.Span = noop.Span{}

// Start starts s under ctx's span, or else under s.From's remote context,
// or as a root. With t nil it returns ctx and a span that records nothing,
// without allocating.
func (t *Tracer) Start(ctx context.Context, s Span) (context.Context, trace.Span) {
	if t == nil {
		return ctx, off
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		if sc := s.From.Remote(); sc.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(s.Kind)}
	if !s.Start.IsZero() {
		opts = append(opts, trace.WithTimestamp(s.Start))
	}
	if sc := s.Link.Remote(); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return t.t.Start(ctx, s.Name, opts...)
}

// Child starts an internal span named name under ctx's span, with that
// span's provider, only when it records: plugin calls made within a traced
// call become its children, and cost nothing otherwise.
func Child(ctx context.Context, name string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, off
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
}

// End ends sp, marking it failed with err's text when err is not nil.
func End(sp trace.Span, err error) {
	if err != nil && sp.IsRecording() {
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

// Noop is the span of tracing off, for a caller that traces a call
// elsewhere: it records nothing and costs nothing.
func Noop() trace.Span { return off }
