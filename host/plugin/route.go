package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ppcmesh/mesh/host/internal/reserved"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Router returns the route handler configured for path (a URL path or an
// x-ptp-uri): the one with the longest matching prefix. ok is false when no
// handler claims path, and always for the node's own endpoints. With no
// route handler running it costs one atomic load.
func (r *Registry) Router(path string) (name string, ok bool) {
	if r == nil {
		return "", false
	}
	h := r.hot.Load()
	if h == nil || len(h.routes) == 0 || ReservedPaths(path) {
		return "", false
	}
	for _, p := range h.routes {
		if strings.HasPrefix(path, p.prefix) {
			return p.name, true
		}
	}
	return "", false
}

// Handle asks the route handler called name what to do with req. A
// failure (trap, error, timeout, an answer that is not a route response)
// is 500 naming the handler and a reference to the node's log, which has
// the guest's text (see failure.go).
func (r *Registry) Handle(ctx context.Context, name string, req RouteRequest) (RouteResponse, error) {
	in, _ := json.Marshal(req)
	out, err := run(ctx, func() (*loaded, error) { return r.get(name, Route) }, ExportHandle, in)
	var resp RouteResponse
	if err == nil {
		resp, err = decodeRouteResponse(name, out)
	}
	if err != nil {
		return RouteResponse{}, r.failure(ptp.SystemError, name, "route handler "+name, err)
	}
	return resp, nil
}

// checkRouteResponse checks a handler's answer names an action it can take.
func checkRouteResponse(name string, resp RouteResponse) error {
	switch resp.Action {
	case ActionRespond, ActionForward, ActionNext:
	default:
		return fmt.Errorf("route handler %s answered unknown action %q (want respond, forward or next)", name, resp.Action)
	}
	if resp.Action == ActionForward && resp.Target == "" {
		return fmt.Errorf("route handler %s said forward without a target", name)
	}
	return nil
}

// ReservedPaths reports whether path (a URL path or an x-ptp-uri) belongs to the
// node itself rather than to route handlers: host/internal/reserved, the
// one list the registry uses too.
func ReservedPaths(path string) bool { return reserved.Path(path) }

// checkPrefixes checks a route handler's prefixes: each an absolute path,
// none inside the node's own endpoints.
func checkPrefixes(k Kind, prefixes []string) error {
	if k != Route {
		if len(prefixes) > 0 {
			return fmt.Errorf("prefixes are for route handlers, not a %s", k)
		}
		return nil
	}
	if len(prefixes) == 0 {
		return fmt.Errorf("a route handler needs at least one prefix (--prefix /path/) to know which requests are its")
	}
	for _, p := range prefixes {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("prefix %q must start with /", p)
		}
		if ReservedPaths(p) {
			return fmt.Errorf("prefix %q is inside the node's own endpoints (%s)", p, strings.Join(reserved.Roots(), ", "))
		}
	}
	return nil
}
