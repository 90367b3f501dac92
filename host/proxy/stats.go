package proxy

import (
	"cmp"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The latency histogram: bucket i holds latencies below bucketBase<<i;
// the last one (about 2 minutes) everything slower too.
const (
	bucketBase = 64 * time.Microsecond
	buckets    = 22
)

// bucketOf is the histogram bucket of a latency.
func bucketOf(d time.Duration) int {
	return min(bits.Len64(uint64(max(d, 0)/bucketBase)), buckets-1)
}

// RouteStats is the traffic of one route key since the proxy first saw it
// (a route that disappears from the table starts over).
type RouteStats struct {
	Route     string            `json:"route"`     // the route key
	Requests  uint64            `json:"requests"`  // finished requests and calls
	Errors    uint64            `json:"errors"`    // of them: not forwarded, 5xx, or gRPC status other than OK
	Classes   map[string]uint64 `json:"classes"`   // by outcome: "2xx".."5xx", a gRPC code name, or the PTP code of a refusal
	InFlight  int64             `json:"in_flight"` // requests being served now
	P50       time.Duration     `json:"p50_ns"`    // median latency (histogram bucket bound)
	P99       time.Duration     `json:"p99_ns"`    // 99th percentile latency (histogram bucket bound)
	Healthy   int               `json:"healthy"`   // instances the proxy would pick now
	Instances int               `json:"instances"` // instances it tracks
	// Latency counts the finished requests by latency bucket: bucket i
	// those below BucketBound(i), the last one everything slower too;
	// LatencySum is their total latency. For /metrics, not /stats.
	Latency    []uint64      `json:"-"`
	LatencySum time.Duration `json:"-"`
}

// BucketBound is the upper bound of latency bucket i of RouteStats.Latency.
func BucketBound(i int) time.Duration { return bucketBase << i }

// routeStats are the live counters behind RouteStats.
type routeStats struct {
	inflight atomic.Int64
	hist     []atomic.Uint64 // by bucketOf
	sum      atomic.Int64    // total latency, ns

	mu       sync.Mutex
	requests uint64
	errors   uint64
	classes  map[string]uint64
}

func newRouteStats() *routeStats {
	return &routeStats{hist: make([]atomic.Uint64, buckets), classes: map[string]uint64{}}
}

// done records one finished request of the given outcome class.
func (s *routeStats) done(class string, failed bool, took time.Duration) {
	s.hist[bucketOf(took)].Add(1)
	s.sum.Add(int64(took))
	s.mu.Lock()
	s.requests++
	s.classes[class]++
	if failed {
		s.errors++
	}
	s.mu.Unlock()
}

// quantile is the bucket bound below which fraction q of requests fell.
func (s *routeStats) quantile(q float64) time.Duration {
	var total uint64
	counts := make([]uint64, len(s.hist))
	for i := range s.hist {
		counts[i] = s.hist[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	want, seen := uint64(q*float64(total)+0.5), uint64(0)
	for i, c := range counts {
		if seen += c; seen >= max(want, 1) {
			return bucketBase << i
		}
	}
	return bucketBase << (buckets - 1)
}

// Stats returns the statistics of every route the proxy tracks, by key.
func (p *Proxy) Stats() []RouteStats {
	p.mu.Lock()
	states := make([]*routeState, 0, len(p.routes))
	for _, rs := range p.routes {
		states = append(states, rs)
	}
	p.mu.Unlock()
	out := make([]RouteStats, 0, len(states))
	for _, rs := range states {
		out = append(out, rs.snapshot())
	}
	slices.SortFunc(out, func(a, b RouteStats) int { return cmp.Compare(a.Route, b.Route) })
	return out
}

func (rs *routeState) snapshot() RouteStats {
	s := rs.stats
	st := RouteStats{Route: rs.key, InFlight: s.inflight.Load(), P50: s.quantile(0.50), P99: s.quantile(0.99),
		Latency: make([]uint64, len(s.hist)), LatencySum: time.Duration(s.sum.Load())}
	for i := range s.hist {
		st.Latency[i] = s.hist[i].Load()
	}
	s.mu.Lock()
	st.Requests, st.Errors, st.Classes = s.requests, s.errors, make(map[string]uint64, len(s.classes))
	for k, v := range s.classes {
		st.Classes[k] = v
	}
	s.mu.Unlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st.Instances = len(rs.instances)
	for _, u := range rs.instances {
		if ok, _ := u.up(); ok {
			st.Healthy++
		}
	}
	return st
}
