package host

import (
	"context"
	"time"

	"github.com/ppcmesh/mesh/host/tracing"
)

// flushTimeout bounds the flush of spans not yet exported when the node
// stops: a collector that is down must not hold the stop up.
const flushTimeout = 5 * time.Second

// tracingConfig is the tracer's part of c, for the node nodeID.
func (c *Config) tracingConfig(nodeID string) tracing.Config {
	return tracing.Config{Endpoint: c.OTLPEndpoint, Provider: c.TracerProvider, NodeID: nodeID, Replica: c.Name}
}

// openTracing builds the node's tracer (nil: tracing off).
func (h *Host) openTracing(ctx context.Context) (err error) {
	h.tracer, err = tracing.New(ctx, h.cfg.tracingConfig(h.ident.NodeID()))
	return err
}

// closeTracing flushes the spans not yet exported and stops the exporter.
func (h *Host) closeTracing() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := h.tracer.Shutdown(ctx); err != nil {
		h.log.Warn("traces not flushed", "err", err.Error())
	}
	h.tracer = nil
}
