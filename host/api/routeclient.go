package api

import (
	"net"
	"net/http"
	"time"
)

// The route client's bounds: a route handler's forward to a local upstream
// may not hang the call that asked for it, nor follow redirects without end
// or off the upstream it named.
const (
	routeDialTimeout   = 10 * time.Second
	routeHeaderTimeout = time.Minute     // from the request sent to the answer's headers
	routeTimeout       = 5 * time.Minute // the whole exchange, the answer's body included
	routeRedirects     = 5               // redirects followed, each on the upstream's own scheme and host
)

// newRouteClient is the Service's client for route handlers' forwards to
// local upstreams, with timeouts and bounded redirects; headerWait bounds
// the wait for an answer's headers.
func newRouteClient(headerWait time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: routeDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = routeDialTimeout
	t.ResponseHeaderTimeout = headerWait
	t.Proxy = nil // upstreams are the operator's own: never through an environment's proxy
	return &http.Client{Transport: t, Timeout: routeTimeout, CheckRedirect: sameUpstream}
}

// sameUpstream follows at most routeRedirects redirects, and only on the
// scheme and host of the first request; otherwise the redirect itself is
// the answer, as a reverse proxy would pass it on.
func sameUpstream(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if len(via) > routeRedirects || req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return http.ErrUseLastResponse
	}
	return nil
}
