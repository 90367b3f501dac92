// Package registry is the node's service registry: the dynamic routes a
// management plane registers (POST /v1/interconn/registry/register, the
// older Mesh's wire contract), stored in a JetStream KV bucket that every
// replica mirrors, expired by their validity, and compiled into a table of
// routes matched by request path. It decides where a path goes; package
// proxy carries requests there.
package registry

import "time"

// Route is one routable path: every live instance registered for one urn
// and protocol. Its exposure is restrictive across them: Exposed only when
// every registration of the route exposes it, and Partners the partners
// every registration that names some names (a restriction leaving none is
// no exposure), so no instance becomes reachable to partners because
// another one was registered exposed. Its other settings (Name, Timeout,
// Retries, Balance, Health, H2) are those of the newest registration (the
// latest Registered time; ties to the greater bucket key). The table hands
// Routes out by value; they are never changed in place.
type Route struct {
	Key       string        // identifies the route across table versions: Proto + " " + URN
	URN       string        // the path as registered: "/a/b/c" exact, "/a/b/*" a prefix (of "/a/b/…"); gRPC "/pkg.Service/" or "/pkg.Service/Method"
	Prefix    bool          // URN ends in "/*" (or, for gRPC, in "/"): matches every path below it
	Proto     string        // ProtoHTTP or ProtoGRPC: what callers send
	H2        bool          // the upstream speaks h2c (service kind other than "Restful"); gRPC always does
	Name      string        // the newest registration's name
	Timeout   time.Duration // per attempt; 0: the proxy's default
	Retries   int           // further attempts of an idempotent request on another instance
	Exposed   bool          // partners may call it (flags bit 4 "communal", or attrs "exposed"), in every registration
	Partners  []string      // when exposed and not empty: only these partner node ids (sorted; the intersection)
	Balance   string        // BalanceRoundRobin (default) or BalanceLeastRequest
	Health    HealthCheck
	Instances []Instance // live (unexpired) instances, sorted by ID, then Key
}

// Instance is one registered upstream of a route.
type Instance struct {
	ID      string    // the registration's instance_id (two registrations of other names may share it)
	Key     string    // unique per registration (its bucket key: name and instance_id); the proxy tracks instances by it
	Address string    // host:port the proxy dials
	Expires time.Time // the registration's expiry; the route stops using it then
}

// HealthCheck is how the proxy probes a route's instances: an HTTP GET at
// Path when set (2xx/3xx healthy), else a TCP connect.
type HealthCheck struct {
	Path      string        // attrs "health_path"
	Interval  time.Duration // attrs "health_interval" (Go duration or ms); default 5s
	Threshold int           // consecutive failures that eject, and successes that restore; attrs "health_threshold", default 3
}

// Protocols and balancing policies.
const (
	ProtoHTTP = "http"
	ProtoGRPC = "grpc"

	BalanceRoundRobin   = "round_robin"
	BalanceLeastRequest = "least_request"
)

// ExposedTo reports whether partner node id may call the route.
func (r Route) ExposedTo(partner string) bool {
	if !r.Exposed {
		return false
	}
	if len(r.Partners) == 0 {
		return true
	}
	for _, p := range r.Partners {
		if p == partner {
			return true
		}
	}
	return false
}

// Matcher is what the proxy and the node's handlers need of the registry:
// the route for a path, and every route (for health checks and stats).
// *Store implements it.
type Matcher interface {
	// Match returns the route with the longest URN matching path among
	// those of protocol proto, with only its unexpired instances.
	Match(path, proto string) (Route, bool)
	// Routes returns every route with at least one unexpired instance.
	Routes() []Route
	// Changed is closed (and replaced) whenever the routes change.
	Changed() <-chan struct{}
}
