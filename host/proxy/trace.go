package proxy

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/registry"
	"github.com/ppcmesh/mesh/host/tracing"
)

// startProxy starts the span of a call to route under the trace context
// the caller sent (from).
func (p *Proxy) startProxy(ctx context.Context, from tracing.Context, route registry.Route, proto string) (context.Context, trace.Span) {
	ctx, sp := p.cfg.Tracer.Start(ctx, tracing.Span{Name: tracing.SpanProxy, Kind: trace.SpanKindServer, From: from})
	if sp.IsRecording() {
		sp.SetAttributes(attribute.String(tracing.AttrService, route.URN),
			attribute.String(tracing.AttrServiceName, route.Name), attribute.String(tracing.AttrProto, proto))
	}
	return ctx, sp
}

// traceHTTP starts the span of proxying r: r under the span's context, so
// that each attempt sends it on (see reverseProxy).
func (p *Proxy) traceHTTP(r *http.Request, route registry.Route) (*http.Request, trace.Span) {
	ctx, sp := p.startProxy(r.Context(), tracing.FromHTTP(r.Header), route, registry.ProtoHTTP)
	if !sp.IsRecording() {
		return r, sp
	}
	sp.SetAttributes(attribute.String(tracing.AttrHTTPMethod, r.Method), attribute.String(tracing.AttrURLPath, r.URL.Path))
	return r.WithContext(ctx), sp
}

// traceGRPC starts the span of proxying a gRPC call: stream under the
// span's context, so that opening the upstream call sends it on (open).
func (p *Proxy) traceGRPC(stream grpc.ServerStream, method string, route registry.Route) (grpc.ServerStream, trace.Span) {
	if !p.cfg.Tracer.On() {
		return stream, tracing.Noop()
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	ctx, sp := p.startProxy(stream.Context(), tracing.Read(mdGet(md)), route, registry.ProtoGRPC)
	sp.SetAttributes(attribute.String(tracing.AttrRPCMethod, method))
	return tracedStream{stream, ctx}, sp
}

// endProxy ends a proxy span: status is the HTTP status answered (0 for
// gRPC or none), err what failed.
func endProxy(sp trace.Span, status int, err error) {
	if !sp.IsRecording() {
		return
	}
	if status != 0 {
		sp.SetAttributes(attribute.Int(tracing.AttrHTTPStatus, status))
	}
	if status >= 500 {
		sp.SetStatus(codes.Error, http.StatusText(status))
	}
	tracing.End(sp, err)
}

// traceOutHTTP sets on an upstream request the trace context of the
// proxy span in ctx; the caller's x-ptp-trace-id goes on verbatim.
// Without a span (tracing off) the caller's headers pass unchanged.
func traceOutHTTP(ctx context.Context, in, out http.Header) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		tracing.Outgoing(ctx, tracing.FromHTTP(in)).PutHTTP(out)
	}
}

// traceOutGRPC is traceOutHTTP for the metadata of an upstream call.
func traceOutGRPC(ctx context.Context, md metadata.MD) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	c := tracing.Outgoing(ctx, tracing.Read(mdGet(md)))
	m := map[string]string{}
	c.Put(m)
	for k, v := range m {
		md.Set(k, v)
	}
}

// mdGet looks a key up in md.
func mdGet(md metadata.MD) func(string) string {
	return func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// tracedStream is a server stream under the proxy span's context.
type tracedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s tracedStream) Context() context.Context { return s.ctx }

// grpcErr is err unless it is a gRPC status the upstream answered OK.
func grpcErr(err error) error {
	if status.Code(err) == grpccodes.OK {
		return nil
	}
	return err
}
