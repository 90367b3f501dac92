package network

import (
	"sync"
	"time"
)

// Hello rate limits: token buckets per source IP and for the whole node. A
// source over its own bucket spends nothing of the node's, so one noisy
// address cannot lock out a genuine partner calling from another.
const (
	helloPerIPBurst = 16
	helloPerIPRate  = 0.5 // tokens a second
	helloAllBurst   = 64
	helloAllRate    = 2
	helloMaxSources = 4096 // source buckets kept; the fullest are forgotten first
)

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
	mu      sync.Mutex
	all     bucket
	sources map[string]*bucket
}

func newHelloLimiter() *helloLimiter {
	return &helloLimiter{sources: make(map[string]*bucket)}
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
	if !b.take(now, helloPerIPRate, helloPerIPBurst) {
		return false
	}
	if !l.all.take(now, helloAllRate, helloAllBurst) {
		b.tokens++ // not this source's fault
		return false
	}
	return true
}

// forget drops the buckets of sources that have refilled (they would start
// full anyway); if every bucket is in use, it drops them all, since the
// node-wide bucket still bounds the rate.
func (l *helloLimiter) forget(now time.Time) {
	if len(l.sources) < helloMaxSources {
		return
	}
	for ip, b := range l.sources {
		b.refill(now, helloPerIPRate, helloPerIPBurst)
		if b.tokens >= helloPerIPBurst {
			delete(l.sources, ip)
		}
	}
	if len(l.sources) >= helloMaxSources {
		clear(l.sources)
	}
}
