package network

import (
	"errors"
	"sync"
	"sync/atomic"
)

// partnerCounters are one partner's forwarding figures (PartnerStats).
type partnerCounters struct {
	up                                 atomic.Bool
	forwarded, forwardedBytes, retries atomic.Int64
}

// reached records the outcome of one delivery attempt: up when the
// partner stored it, down when it could not be reached at all; other
// outcomes (a refusal, a caller's deadline) leave it as it was.
func (c *partnerCounters) reached(err error) {
	var te *transportError
	switch {
	case err == nil:
		c.up.Store(true)
	case errors.As(err, &te):
		c.up.Store(false)
	}
}

// partnerSet holds the counters of the partners delivered to. It holds
// one entry per partner ever delivered to by this process: deliveries go
// only to routes of the table, which the operator weaves.
type partnerSet struct {
	mu sync.Mutex
	m  map[string]*partnerCounters
}

// of is the counters of partner id, made on first use.
func (s *partnerSet) of(id string) *partnerCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*partnerCounters)
	}
	c, ok := s.m[id]
	if !ok {
		c = new(partnerCounters)
		s.m[id] = c
	}
	return c
}

// get is the counters of partner id; nil before any delivery to it.
func (s *partnerSet) get(id string) *partnerCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// partnerStats are the figures of every partner route, by node id.
func (n *Network) partnerStats() []PartnerStats {
	es := n.routes.list()
	out := make([]PartnerStats, 0, len(es))
	for _, e := range es {
		ps := PartnerStats{NodeID: e.NodeID, Waiting: int64(n.outbox.parked(e.NodeID))}
		if c := n.partners.get(e.NodeID); c != nil {
			ps.Up, ps.Forwarded, ps.ForwardedBytes, ps.Retries = c.up.Load(), c.forwarded.Load(), c.forwardedBytes.Load(), c.retries.Load()
		}
		out = append(out, ps)
	}
	return out
}
