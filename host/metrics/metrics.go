// Package metrics is the node's Prometheus instrumentation: one registry per
// node holding every metric the node exports at GET /metrics, in the
// Prometheus text format. Label values come from closed sets (operations,
// transports, PTP codes, partner node ids, plugin and service names), never
// from session ids or other caller-chosen strings, so the number of series
// is bounded by construction.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one node's registry and the metrics in it.
type Metrics struct {
	reg *prometheus.Registry
}

// New makes a node's registry, with the Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Metrics{reg: reg}
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
