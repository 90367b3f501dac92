package host_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
)

// BenchmarkPushPopTraced is BenchmarkPushPop's 1 KiB single-caller case
// with tracing on: every span is sampled and recorded (by a provider that
// exports nowhere), so the difference to BenchmarkPushPop is what the
// instrumentation costs a traced node.
func BenchmarkPushPopTraced(b *testing.B) {
	for _, tr := range []string{"grpc", "http"} {
		b.Run(tr+"/1KiB/c1", func(b *testing.B) {
			tp := sdktrace.NewTracerProvider()
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			n := meshtest.Start(b, host.Config{TracerProvider: tp})
			cl := benchClient(b, n, tr, "bench")
			warm(b, cl, 2)
			benchPushPop(b, cl, cl, 1<<10, 1)
		})
	}
}
