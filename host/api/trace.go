package api

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
	"github.com/ppcmesh/mesh/host/tracing"
)

// callSpans are the span names of container calls, by method.
var callSpans = map[ptp.Method]string{
	ptp.Push: tracing.SpanPush, ptp.Peek: tracing.SpanPeek, ptp.Release: tracing.SpanRelease,
}

// startCall starts the span of call r under the trace context its caller
// sent. A pop starts its own once it knows the message (tracePop).
func (s *Service) startCall(ctx context.Context, r *Request) (context.Context, trace.Span) {
	name, ok := callSpans[r.Method]
	if !ok || !s.services.Tracer.On() {
		return ctx, tracing.Noop()
	}
	return s.services.Tracer.Start(ctx, tracing.Span{Name: name, Kind: trace.SpanKindServer, From: r.Trace})
}

// calledBy renames the call's span for a partner's delivery.
func calledBy(ctx context.Context, partner string) {
	if sp := trace.SpanFromContext(ctx); partner != "" && sp.IsRecording() {
		sp.SetName(tracing.SpanReceive)
		sp.SetAttributes(attribute.String(tracing.AttrPartner, partner))
	}
}

// endCall ends the span of call r, answered rep.
func (s *Service) endCall(sp trace.Span, r *Request, rep *Reply) {
	if !sp.IsRecording() {
		return
	}
	sp.SetAttributes(attribute.String(tracing.AttrNodeID, s.ident.Current().NodeID),
		attribute.String(tracing.AttrSession, r.Session), attribute.String(tracing.AttrTopic, r.Topic),
		attribute.String(tracing.AttrCode, string(rep.Code)), attribute.Int(tracing.AttrBytes, len(r.Payload)+len(rep.Payload)))
	if id := rep.Metadata[ptp.HeaderMessageID]; id != "" {
		sp.SetAttributes(attribute.String(tracing.AttrMessageID, id))
	}
	if d := rep.Metadata[ptp.HeaderDelivery]; d != "" {
		sp.SetAttributes(attribute.String(tracing.AttrDelivery, d), attribute.String(tracing.AttrPartner, r.TargetNode+r.TargetInst))
	}
	if r.Trace.TraceID != "" && r.Trace.TraceID != sp.SpanContext().TraceID().String() {
		sp.SetAttributes(attribute.String(tracing.AttrTraceIDOrig, r.Trace.TraceID))
	}
	if rep.Code != ptp.OK {
		sp.SetStatus(codes.Error, rep.Message)
	}
	sp.End()
}

// tracePop records pop r, which began waiting at start and took m (nil:
// none came), answered rep. With trace context of its own, the pop is a
// child of the caller's span, linked to the message's; without, it
// continues the message's trace, and the reply's traceparent names the pop.
func (s *Service) tracePop(ctx context.Context, r *Request, m *queue.Message, start time.Time, rep *Reply) {
	if !s.services.Tracer.On() {
		return
	}
	var stored tracing.Context
	if m != nil {
		stored = tracing.FromMap(m.Metadata)
	}
	span := tracing.Span{Name: tracing.SpanPop, Kind: trace.SpanKindServer, From: r.Trace, Start: start, Link: stored}
	own := r.Trace.Remote().IsValid()
	if !own {
		span.From, span.Link = stored, tracing.Context{}
	}
	ctx, sp := s.services.Tracer.Start(ctx, span)
	if !own && m != nil && rep.Metadata != nil {
		tracing.Outgoing(ctx, stored).Put(rep.Metadata)
	}
	s.endCall(sp, r, rep)
}

// startRoute starts the span of a call the route handler name serves,
// under the trace context of the call's headers: the handler's plugin
// call becomes its child.
func (s *Service) startRoute(ctx context.Context, name string, req plugin.RouteRequest) (context.Context, trace.Span) {
	ctx, sp := s.services.Tracer.Start(ctx, tracing.Span{Name: tracing.SpanRoute, Kind: trace.SpanKindServer, From: tracing.FromMap(req.Headers)})
	if sp.IsRecording() {
		sp.SetAttributes(attribute.String(tracing.AttrPluginName, name), attribute.String(tracing.AttrURLPath, req.Path),
			attribute.String(tracing.AttrHTTPMethod, req.Method))
	}
	return ctx, sp
}

// checkTrace bounds the trace context a push stores and carries on: each
// value at most tracing.MaxValue bytes, and header text as the metadata it
// travels in (queue.CheckMetadata's rule).
func checkTrace(c tracing.Context) error {
	if c.IsZero() {
		return nil
	}
	for _, f := range [...]struct{ name, v string }{
		{ptp.HeaderTraceID, c.TraceID}, {tracing.HeaderParent, c.Parent}, {tracing.HeaderState, c.State},
	} {
		if len(f.v) > tracing.MaxValue {
			return ptp.Errorf(ptp.BadRequest, "header %s of %d bytes exceeds the limit of %d bytes", f.name, len(f.v), tracing.MaxValue)
		}
	}
	md := make(map[string]string, 3)
	c.Put(md)
	return queue.CheckMetadata(md)
}
