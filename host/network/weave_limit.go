package network

import (
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/internal/defaults"
)

// HelloLimits rate-limit the weave handshake endpoints: token buckets per
// source IP and for the whole node. A source over its own bucket spends
// nothing of the node's, so one noisy address cannot lock out a genuine
// partner calling from another. A zero field takes its default (from
// host/internal/defaults).
type HelloLimits struct {
	PerIPBurst int     // handshake calls one source may make at once; default 16
	PerIPRate  float64 // calls a second one source regains; default 0.5
	NodeBurst  int     // handshake calls all sources together may make at once; default 64
	NodeRate   float64 // calls a second the node regains; default 2
	Sources    int     // source buckets kept, the fullest forgotten first; default 4096
}

// withDefaults is l with every zero (or negative) field set to its default.
func (l HelloLimits) withDefaults() HelloLimits {
	defaults.Fill(&l.PerIPBurst, defaults.HelloPerIPBurst)
	defaults.Fill(&l.PerIPRate, defaults.HelloPerIPRate)
	defaults.Fill(&l.NodeBurst, defaults.HelloNodeBurst)
	defaults.Fill(&l.NodeRate, defaults.HelloNodeRate)
	defaults.Fill(&l.Sources, defaults.HelloSources)
	return l
}

// bucket is one token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b for the time since its last use and takes a token if one
// is there.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(burst, b.tokens+d*rate)
	}
	b.last = now
}

// helloLimiter rate-limits the handshake endpoints.
type helloLimiter struct {
	lim     HelloLimits
	mu      sync.Mutex
	all     bucket
	sources map[string]*bucket
}

// newHelloLimiter returns a limiter with lim, its zero fields defaulted.
func newHelloLimiter(lim HelloLimits) *helloLimiter {
	return &helloLimiter{lim: lim.withDefaults(), sources: make(map[string]*bucket)}
}

// allow reports whether a handshake call from ip may go ahead now.
func (l *helloLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.sources[ip]
	if b == nil {
		l.forget(now)
		b = &bucket{}
		l.sources[ip] = b
	}
	if !b.take(now, l.lim.PerIPRate, float64(l.lim.PerIPBurst)) {
		return false
	}
	if !l.all.take(now, l.lim.NodeRate, float64(l.lim.NodeBurst)) {
		b.tokens++ // not this source's fault
		return false
	}
	return true
}

// forget drops the buckets of sources that have refilled (they would start
// full anyway); if every bucket is in use, it drops them all, since the
// node-wide bucket still bounds the rate.
func (l *helloLimiter) forget(now time.Time) {
	if len(l.sources) < l.lim.Sources {
		return
	}
	for ip, b := range l.sources {
		b.refill(now, l.lim.PerIPRate, float64(l.lim.PerIPBurst))
		if b.tokens >= float64(l.lim.PerIPBurst) {
			delete(l.sources, ip)
		}
	}
	if len(l.sources) >= l.lim.Sources {
		clear(l.sources)
	}
}
