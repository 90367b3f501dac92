// Package reserved is the one list of the node's own paths: the endpoints
// no route handler plugin (host/plugin) and no registered service
// (host/registry) may take over, on whichever port serves them.
package reserved

import (
	"slices"
	"strings"

	"github.com/ppcmesh/mesh/host/ptp"
)

// roots are the node's own paths. A root ending in "/" or "." is a prefix
// (every path starting with it); any other is that path and the paths
// below it ("/stats" and "/stats/x", not "/statsx"). /metrics,
// /debug/pprof/ and /panel/ are the operator's (host/api admin.go), served
// on the data port when the node has no admin port.
var roots = []string{"/v1/interconn/", "/org.ppc.", "/healthz", "/stats", "/metrics", "/debug/pprof", "/panel"}

// Roots returns the node's own paths, as Path matches them.
func Roots() []string { return slices.Clone(roots) }

// Path reports whether path (a URL path or an x-ptp-uri) belongs to the node
// itself: under one of its roots, or a PTP URI in any dialect.
func Path(path string) bool {
	if _, _, ok := ptp.ParseURI(path); ok {
		return true
	}
	for _, r := range roots {
		if under(path, r) {
			return true
		}
	}
	return false
}

// Covers returns a node path that the paths starting with prefix ("/",
// "/v1/") would include, if any.
func Covers(prefix string) (string, bool) {
	for _, r := range roots {
		if strings.HasPrefix(r, prefix) || under(prefix, r) {
			return r, true
		}
	}
	return "", false
}

// under reports whether path is under root r.
func under(path, r string) bool {
	if strings.HasSuffix(r, "/") || strings.HasSuffix(r, ".") {
		return strings.HasPrefix(path, r)
	}
	return path == r || strings.HasPrefix(path, r+"/")
}
