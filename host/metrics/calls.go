package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Op is the operation of a call: a closed set, one label value each.
type Op uint8

// The operations. OpOther is a call the node could not place (say, a body
// it could not decode before knowing the method).
const (
	OpOther Op = iota
	OpPush
	OpPop
	OpPeek
	OpRelease
	OpInvoke    // PrivateTransferProtocol.invoke, over gRPC or HTTP
	OpTransport // one frame of a PrivateTransferProtocol.transport stream
	OpControl   // a control endpoint (node, net, plugin, registry)
	numOps
)

var opNames = [numOps]string{"other", "push", "pop", "peek", "release", "invoke", "transport", "control"}

// String is the operation's label value.
func (o Op) String() string { return opNames[min(o, numOps-1)] }

// OpOf is the operation of a container-API method.
func OpOf(m ptp.Method) Op {
	switch m {
	case ptp.Push:
		return OpPush
	case ptp.Pop:
		return OpPop
	case ptp.Peek:
		return OpPeek
	case ptp.Release:
		return OpRelease
	}
	return OpOther
}

// Transport is the wire a call came on: a closed set.
type Transport uint8

// The transports. TransportInProcess is a call made by the node itself.
const (
	TransportInProcess Transport = iota
	TransportGRPC                // gRPC (either PTP service)
	TransportHTTP                // HTTP with a JSON body (or an invoke's PTP headers)
	TransportHTTPRaw             // HTTP with an application/octet-stream body
	numTransports
)

var transportNames = [numTransports]string{"inprocess", "grpc", "http", "http-raw"}

// String is the transport's label value.
func (t Transport) String() string { return transportNames[min(t, numTransports-1)] }

// codeIndex numbers the PTP codes (ptp.Codes) for the counters; a code
// outside the table counts under codeNames[len] "other".
type codeIndex struct {
	index map[ptp.Code]int
	names []string
}

func newCodeIndex() codeIndex {
	cs := ptp.Codes()
	ci := codeIndex{index: make(map[ptp.Code]int, len(cs)), names: make([]string, 0, len(cs)+1)}
	for i, c := range cs {
		ci.index[c] = i
		ci.names = append(ci.names, string(c))
	}
	ci.names = append(ci.names, "other")
	return ci
}

func (ci codeIndex) of(c ptp.Code) int {
	if i, ok := ci.index[c]; ok {
		return i
	}
	return len(ci.names) - 1
}

// Call is one answered call, as the node's one observation hook (Calls.Done)
// sees it: the metrics count it and the access log, when on, writes it.
type Call struct {
	Op        Op
	Transport Transport
	Code      ptp.Code
	Session   string // for the access log only, never a label
	Topic     string // for the access log only, never a label
	BytesIn   int    // payload bytes received
	BytesOut  int    // payload bytes answered
	Start     time.Time
	Caller    string // for the access log: "partner", "container" or "operator"
	CallerID  string // for the access log: the partner's node id
	Remote    string // for the access log: the caller's address
	Path      string // for the access log: a control request's method and path
}

// Calls counts the node's calls. Its methods are safe on a nil *Calls
// (they do nothing), so a package's tests need not set one.
type Calls struct {
	codes    codeIndex
	counts   [numOps][numTransports][]atomic.Uint64 // by code index
	in, out  [numOps]atomic.Uint64
	duration [numOps]prometheus.Observer
	stored   prometheus.Histogram // push→pop
	popWait  prometheus.Histogram
	durVec   *prometheus.HistogramVec
	access   *access // nil: the access log is off

	reqDesc, inDesc, outDesc *prometheus.Desc
}

// latencyBuckets are the bounds of the latency histograms, in seconds:
// 100µs to about 100 s.
var latencyBuckets = prometheus.ExponentialBuckets(100e-6, 4, 11)

// storedBuckets are the bounds of the time a message spends stored: 1 ms
// to about 75 h (the default message TTL is 72 h).
var storedBuckets = prometheus.ExponentialBuckets(1e-3, 4, 15)

func newCalls() *Calls {
	c := &Calls{codes: newCodeIndex(),
		reqDesc: prometheus.NewDesc("mesh_requests_total", "Calls answered, by operation, transport and PTP code.",
			[]string{"operation", "transport", "code"}, nil),
		inDesc: prometheus.NewDesc("mesh_payload_received_bytes_total", "Payload bytes received in calls, by operation.",
			[]string{"operation"}, nil),
		outDesc: prometheus.NewDesc("mesh_payload_sent_bytes_total", "Payload bytes answered to calls, by operation.",
			[]string{"operation"}, nil),
		stored: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mesh_message_stored_seconds",
			Help: "Time a popped message spent stored, from its push to its pop.", Buckets: storedBuckets}),
		popWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mesh_pop_wait_seconds",
			Help: "Time pops waited for a message (or until their timeout).", Buckets: latencyBuckets}),
	}
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mesh_request_duration_seconds",
		Help: "Time to answer a call, by operation.", Buckets: latencyBuckets}, []string{"operation"})
	for o := range numOps {
		c.duration[o] = dur.WithLabelValues(o.String())
		for t := range numTransports {
			c.counts[o][t] = make([]atomic.Uint64, len(c.codes.names))
		}
	}
	c.durVec = dur
	return c
}

// Done observes one answered call: its counters and latency, and its
// access-log line when the log is on. It allocates nothing while the log
// is off.
func (c *Calls) Done(call *Call) {
	if c == nil {
		return
	}
	o, t := min(call.Op, numOps-1), min(call.Transport, numTransports-1)
	c.counts[o][t][c.codes.of(call.Code)].Add(1)
	c.in[o].Add(uint64(max(call.BytesIn, 0)))
	c.out[o].Add(uint64(max(call.BytesOut, 0)))
	took := time.Since(call.Start)
	c.duration[o].Observe(took.Seconds())
	if c.access != nil {
		c.access.write(call, took)
	}
}

// Popped observes a pop: how long it waited, and, when it took a message
// (stored is then its push time), how long that message was stored.
func (c *Calls) Popped(waited time.Duration, stored time.Time) {
	if c == nil {
		return
	}
	c.popWait.Observe(waited.Seconds())
	if !stored.IsZero() {
		c.stored.Observe(max(time.Since(stored), 0).Seconds())
	}
}

// Describe is prometheus.Collector's.
func (c *Calls) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.reqDesc
	ch <- c.inDesc
	ch <- c.outDesc
	c.durVec.Describe(ch)
	c.stored.Describe(ch)
	c.popWait.Describe(ch)
}

// Collect is prometheus.Collector's: the counters read at scrape time, only
// the series that counted something.
func (c *Calls) Collect(ch chan<- prometheus.Metric) {
	for o := range numOps {
		for t := range numTransports {
			for i := range c.counts[o][t] {
				if v := c.counts[o][t][i].Load(); v > 0 {
					ch <- prometheus.MustNewConstMetric(c.reqDesc, prometheus.CounterValue, float64(v),
						o.String(), t.String(), c.codes.names[i])
				}
			}
		}
		if v := c.in[o].Load(); v > 0 {
			ch <- prometheus.MustNewConstMetric(c.inDesc, prometheus.CounterValue, float64(v), o.String())
		}
		if v := c.out[o].Load(); v > 0 {
			ch <- prometheus.MustNewConstMetric(c.outDesc, prometheus.CounterValue, float64(v), o.String())
		}
	}
	c.durVec.Collect(ch)
	c.stored.Collect(ch)
	c.popWait.Collect(ch)
}

// Logs reports whether the access log is on: a caller then fills the
// Call's fields only the log reads.
func (c *Calls) Logs() bool { return c != nil && c.access != nil }
