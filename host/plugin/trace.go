package plugin

import (
	"context"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ppcmesh/mesh/host/tracing"
)

// traced is l.call inside a span of its own, a child of the call's span
// when that records (tracing.Child): name, kind and export as attributes.
func (l *loaded) traced(ctx context.Context, fn string, input []byte) ([]byte, error) {
	ctx, sp := tracing.Child(ctx, tracing.SpanPlugin)
	if sp.IsRecording() {
		sp.SetAttributes(attribute.String(tracing.AttrPluginName, l.rec.Name), attribute.String(tracing.AttrPluginKind, string(l.rec.Kind)),
			attribute.String(tracing.AttrPluginCall, fn))
	}
	out, err := l.call(ctx, fn, input)
	tracing.End(sp, err)
	return out, err
}
