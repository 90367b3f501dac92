package proxy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// health is what the active checks last concluded about an instance.
type health int

const (
	unknown   health = iota // not probed yet: picked as if healthy
	healthy                 // Threshold probes in a row succeeded (or the first did)
	unhealthy               // Threshold probes in a row failed (or the first did)
)

// upstream is the proxy's view of one instance of one route.
type upstream struct {
	id, addr string // the instance_id (for messages) and the address dialled
	key      string // instKey: unique per registration
	inflight atomic.Int64

	mu        sync.Mutex
	state     health
	streak    int       // consecutive probe results against the current state
	reason    string    // why the last probe failed
	ejected   string    // non-empty: passively ejected, and why
	failures  int       // consecutive failures of real requests
	nextProbe time.Time // zero: probe at once
}

// routeState is the proxy's view of one route key: its instances, its
// round-robin cursor and its statistics.
type routeState struct {
	key   string
	next  atomic.Uint64
	stats *routeStats

	mu        sync.Mutex
	check     registry.HealthCheck
	h2        bool
	instances map[string]*upstream // by instKey
}

// up reports whether the instance may be picked, and why not.
func (u *upstream) up() (bool, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.state == unhealthy:
		return false, "unhealthy: " + u.reason
	case u.ejected != "":
		return false, "ejected: " + u.ejected
	case u.state == unknown:
		return true, notChecked
	}
	return true, "healthy"
}

// notChecked is the health detail of an instance not probed yet.
const notChecked = "not checked yet"

// failed counts a failed real request; threshold of them in a row eject.
func (u *upstream) failed(err error, threshold int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failures++
	if u.failures >= threshold && u.ejected == "" {
		u.ejected = fmt.Sprintf("%d consecutive failed requests, last: %v", u.failures, err)
	}
}

// succeeded resets the count of failed real requests.
func (u *upstream) succeeded() {
	u.mu.Lock()
	u.failures = 0
	u.mu.Unlock()
}

// probed applies one active check result. The first result decides at
// once; after it, threshold results in a row flip the state. A successful
// probe ends a passive ejection.
func (u *upstream) probed(err error, threshold int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	ok := err == nil
	if err != nil {
		u.reason = err.Error()
	}
	if ok {
		u.ejected, u.failures = "", 0
	}
	switch {
	case u.state == unknown:
		u.state, u.streak = map[bool]health{true: healthy, false: unhealthy}[ok], 0
	case ok == (u.state == healthy):
		u.streak = 0
	default:
		u.streak++
		if u.streak >= threshold {
			u.state, u.streak = map[bool]health{true: healthy, false: unhealthy}[ok], 0
		}
	}
}

// state returns the route's state, creating it (and any instance not yet
// known, due for a probe at once) from route.
func (p *Proxy) state(route registry.Route) *routeState {
	p.mu.Lock()
	rs := p.routes[route.Key]
	if rs == nil {
		rs = &routeState{key: route.Key, stats: newRouteStats(), instances: map[string]*upstream{}}
		p.routes[route.Key] = rs
	}
	p.mu.Unlock()
	if rs.update(route) {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return rs
}

// update brings the instances in line with route: new ones are added
// (unknown, due now), ones whose address changed start over, ones route no
// longer lists are forgotten; an unchanged one keeps its state, so update
// is idempotent. It reports whether any was added.
func (rs *routeState) update(route registry.Route) (added bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.check, rs.h2 = route.Health, route.H2 || route.Proto == registry.ProtoGRPC
	keep := make(map[string]bool, len(route.Instances))
	for _, in := range route.Instances {
		k := instKey(in)
		keep[k] = true
		if u := rs.instances[k]; u == nil || u.addr != in.Address {
			rs.instances[k] = &upstream{id: in.ID, key: k, addr: in.Address}
			added = true
		}
	}
	for id := range rs.instances {
		if !keep[id] {
			delete(rs.instances, id)
		}
	}
	return added
}

// pick chooses an instance of route not in tried: round robin, or the one
// with the fewest requests in flight for BalanceLeastRequest. It returns a
// NoProvider error naming every instance's state when none is left.
func (rs *routeState) pick(route registry.Route, tried []string) (*upstream, error) {
	cands := rs.candidates(route, tried)
	if len(cands) == 0 {
		return nil, rs.noProvider(route)
	}
	start := int(rs.next.Add(1)-1) % len(cands)
	best := cands[start]
	if route.Balance == registry.BalanceLeastRequest {
		for i := range cands {
			if c := cands[(start+i)%len(cands)]; c.inflight.Load() < best.inflight.Load() {
				best = c
			}
		}
	}
	return best, nil
}

// candidates are the instances of route, not in tried, that may be picked.
func (rs *routeState) candidates(route registry.Route, tried []string) []*upstream {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var out []*upstream
	for _, in := range route.Instances {
		if u := rs.instances[instKey(in)]; u != nil && !slices.Contains(tried, instKey(in)) {
			if ok, _ := u.up(); ok {
				out = append(out, u)
			}
		}
	}
	return out
}

// noProvider is the error for a route with nothing left to pick.
func (rs *routeState) noProvider(route registry.Route) error {
	if len(route.Instances) == 0 {
		return ptp.Errorf(ptp.NoProvider, "route %s has no live instance", route.Key)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	parts := make([]string, 0, len(route.Instances))
	for _, in := range route.Instances {
		detail := "not tracked"
		if u := rs.instances[instKey(in)]; u != nil {
			_, detail = u.up()
		}
		parts = append(parts, in.ID+" "+detail)
	}
	return ptp.Errorf(ptp.NoProvider, "no healthy instance of route %s (%d registered: %s)",
		route.Key, len(route.Instances), strings.Join(parts, ", "))
}

// threshold is the route's health threshold.
func (rs *routeState) threshold() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return thresholdOf(rs.check)
}

func thresholdOf(c registry.HealthCheck) int {
	if c.Threshold > 0 {
		return c.Threshold
	}
	return DefaultThreshold
}

func intervalOf(c registry.HealthCheck) time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	return DefaultInterval
}

// instKey is how the proxy tracks an instance: its registry Key, unique
// per registration (two registrations may share an instance_id), or its
// ID when the route gives no Key.
func instKey(in registry.Instance) string {
	if in.Key != "" {
		return in.Key
	}
	return in.ID
}

// Health is how the proxy sees an instance (by registry.Instance.Key) of a route now: registry.Healthy,
// registry.Unhealthy (its last probe failed, or real requests ejected it)
// or registry.Unknown (not checked yet, or not tracked), with the reason:
// "healthy", "not checked yet", "unhealthy: <last probe error>",
// "ejected: <failures>", "not tracked". It is the registry listing's
// registry.HealthFunc.
func (p *Proxy) Health(routeKey, instanceKey string) (state, detail string) {
	p.mu.Lock()
	rs := p.routes[routeKey]
	p.mu.Unlock()
	if rs == nil {
		return registry.Unknown, "not tracked"
	}
	rs.mu.Lock()
	u := rs.instances[instanceKey]
	rs.mu.Unlock()
	if u == nil {
		return registry.Unknown, "not tracked"
	}
	ok, detail := u.up()
	switch {
	case !ok:
		return registry.Unhealthy, detail
	case detail == notChecked:
		return registry.Unknown, detail
	}
	return registry.Healthy, detail
}

// tries walks the instances of one route for one request: each pick is a
// healthy instance not tried yet, and the failures collect for the reply.
type tries struct {
	route    registry.Route
	rs       *routeState
	tried    []string
	failures []string
}

// next picks the next instance, or returns the error to answer when none
// is left.
func (t *tries) next() (*upstream, error) {
	u, err := t.rs.pick(t.route, t.tried)
	if err != nil {
		return nil, noneAnswered(t.route, t.failures, err)
	}
	t.tried = append(t.tried, u.key)
	return u, nil
}

// more reports whether an instance not tried yet could be picked.
func (t *tries) more() bool { return len(t.rs.candidates(t.route, t.tried)) > 0 }

// noneAnswered is the error when no instance is left to try: err (why
// none could be picked) before any attempt, else every attempt's failure.
func noneAnswered(route registry.Route, failures []string, err error) error {
	if len(failures) == 0 {
		return err
	}
	return ptp.Errorf(ptp.NoProvider, "route %s: no instance answered (%s)", route.Key, strings.Join(failures, "; "))
}
