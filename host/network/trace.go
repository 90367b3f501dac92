package network

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/tracing"
)

// The transports of a delivery attempt, as the forward span names them.
const (
	viaStream = "grpc-stream"
	viaInvoke = "grpc-invoke"
	viaHTTP   = "http"
)

// startForward starts the span of delivering d to partner e: a child of
// the push in ctx, or, for a parked message the outbox delivers, of the
// trace context stored with it.
func (n *Network) startForward(ctx context.Context, e *entry, d Delivery) (context.Context, trace.Span) {
	ctx, sp := n.cfg.Tracer.Start(ctx, tracing.Span{Name: tracing.SpanForward, Kind: trace.SpanKindClient, From: tracing.FromMap(d.Metadata)})
	if sp.IsRecording() {
		sp.SetAttributes(attribute.String(tracing.AttrPartner, e.NodeID), attribute.String(tracing.AttrDialect, string(cmpDialect(e.Dialect))),
			attribute.String(tracing.AttrSession, d.Session), attribute.String(tracing.AttrTopic, d.Topic),
			attribute.String(tracing.AttrMessageID, d.ID), attribute.Int(tracing.AttrBytes, len(d.Payload)))
	}
	return ctx, sp
}

// endForward ends a forward span after attempts tries, failed with err if
// not nil.
func endForward(sp trace.Span, attempts int, err error) {
	if sp.IsRecording() {
		sp.SetAttributes(attribute.Int(tracing.AttrAttempts, attempts), attribute.Int(tracing.AttrRetries, attempts-1))
	}
	tracing.End(sp, err)
}

// traceHeaders adds to md, the headers of one attempt to deliver d, the
// trace context it carries on: the forward span's when tracing is on, else
// the one d came with, verbatim. how names the attempt's transport.
func traceHeaders(ctx context.Context, d Delivery, md map[string]string, how string) {
	tracing.Outgoing(ctx, tracing.FromMap(d.Metadata)).Put(md)
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.SetAttributes(attribute.String(tracing.AttrTransport, how))
	}
}

// cmpDialect is d, "" being mesh.
func cmpDialect(d ptp.Dialect) ptp.Dialect {
	if d == "" {
		return ptp.DialectMesh
	}
	return d
}

// via names a gRPC attempt's transport: a transport stream, or invoke.
func via(streams bool) string {
	if streams {
		return viaStream
	}
	return viaInvoke
}
