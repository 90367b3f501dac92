package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/registry"
)

// idleWait is how long the check loop sleeps when nothing is due.
const idleWait = time.Minute

// probe is one due health check.
type probe struct {
	u     *upstream
	check registry.HealthCheck
	h2    bool
}

// checkLoop is the one scheduler of active health checks: it re-syncs the
// instances with the table when it changes, runs the probes that are due
// (bounded in number and time), and sleeps until the next is due.
func (p *Proxy) checkLoop(ctx context.Context) {
	for {
		changed := p.sync()
		wait := p.runDue(ctx)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
		case <-p.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// sync makes the proxy's routes those of the table: new instances appear,
// vanished routes, instances and their pooled connections are forgotten.
// It returns the table's change channel read before the routes.
func (p *Proxy) sync() <-chan struct{} {
	if p.cfg.Routes == nil {
		return nil
	}
	changed := p.cfg.Routes.Changed()
	routes := p.cfg.Routes.Routes()
	live := make(map[string]bool, len(routes))
	for _, r := range routes {
		live[r.Key] = true
		p.state(r)
	}
	p.mu.Lock()
	for key := range p.routes {
		if !live[key] {
			delete(p.routes, key)
		}
	}
	stale := p.staleConnsLocked()
	p.mu.Unlock()
	for _, cc := range stale {
		cc.Close()
	}
	return changed
}

// due collects the probes due at now and the time until the next one.
func (p *Proxy) due(now time.Time) ([]probe, time.Duration) {
	p.mu.Lock()
	states := make([]*routeState, 0, len(p.routes))
	for _, rs := range p.routes {
		states = append(states, rs)
	}
	p.mu.Unlock()
	var out []probe
	wait := idleWait
	for _, rs := range states {
		rs.mu.Lock()
		for _, u := range rs.instances {
			u.mu.Lock()
			if !u.nextProbe.After(now) {
				u.nextProbe = now.Add(intervalOf(rs.check))
				out = append(out, probe{u: u, check: rs.check, h2: rs.h2})
			}
			wait = min(wait, u.nextProbe.Sub(now))
			u.mu.Unlock()
		}
		rs.mu.Unlock()
	}
	return out, max(wait, time.Millisecond)
}

// runDue runs the due probes, at most maxProbes at once, and waits for
// them; it returns the time until the next is due.
func (p *Proxy) runDue(ctx context.Context) time.Duration {
	probes, wait := p.due(time.Now())
	sem := make(chan struct{}, maxProbes)
	var wg sync.WaitGroup
	for _, pr := range probes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := p.probe(ctx, pr)
			if ctx.Err() == nil {
				pr.u.probed(err, thresholdOf(pr.check))
			}
		})
	}
	wg.Wait()
	return wait
}

// probe checks one instance: an HTTP GET at the check's path (2xx or 3xx
// is healthy), else a TCP connect, within the probe timeout.
func (p *Proxy) probe(ctx context.Context, pr probe) error {
	ctx, cancel := context.WithTimeout(ctx, min(intervalOf(pr.check), MaxProbeTimeout))
	defer cancel()
	if pr.check.Path == "" {
		c, err := p.cfg.Dial(ctx, "tcp", pr.u.addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	return p.probeHTTP(ctx, pr)
}

func (p *Proxy) probeHTTP(ctx context.Context, pr probe) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+pr.u.addr+pr.check.Path, nil)
	if err != nil {
		return err
	}
	t := p.h1
	if pr.h2 {
		t = p.h2
	}
	res, err := t.RoundTrip(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.CopyN(io.Discard, res.Body, 4<<10) // lets the connection be reused
	if res.StatusCode >= 400 {
		return fmt.Errorf("GET %s answered %s", pr.check.Path, res.Status)
	}
	return nil
}
