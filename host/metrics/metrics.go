// Package metrics is the node's Prometheus instrumentation: one registry per
// node holding every metric the node exports at GET /metrics, in the
// Prometheus text format. Label values come from closed sets (operations,
// transports, PTP codes, partner node ids, plugin and service names), never
// from session ids or other caller-chosen strings, so the number of series
// is bounded by construction.
//
// Two kinds of metric live here. The calls' counters and latency
// histograms (Calls) are observed as calls are answered, without
// allocating. Everything else is read at scrape time from the totals the
// packages keep already (Sources), at no cost on the hot path.
package metrics

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure a node's metrics.
type Options struct {
	// AccessLog, when set, receives one line per answered call (the
	// access log); nil: the access log is off.
	AccessLog *slog.Logger
}

// Metrics is one node's registry and the metrics in it.
type Metrics struct {
	reg   *prometheus.Registry
	calls *Calls
}

// New makes a node's registry, with the Go runtime and process collectors
// and the calls' counters.
func New(o Options) *Metrics {
	reg := prometheus.NewRegistry()
	calls := newCalls()
	if o.AccessLog != nil {
		calls.access = &access{log: o.AccessLog}
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), calls)
	return &Metrics{reg: reg, calls: calls}
}

// Calls is the observation hook of the node's calls; nil on a nil Metrics.
func (m *Metrics) Calls() *Calls {
	if m == nil {
		return nil
	}
	return m.calls
}

// Watch registers the scrape-time collector over s.
func (m *Metrics) Watch(s Sources) {
	m.reg.MustRegister(newSourced(s))
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
