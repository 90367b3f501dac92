package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
)

// routeService is a Service that can forward route requests to local
// upstreams (partners are not needed), its header wait short.
func routeService(headerWait time.Duration) *Service {
	return &Service{routes: newRouteClient(headerWait), limits: Limits{MaxBody: 1 << 20}, quit: make(chan struct{})}
}

// forwardTo runs a route forward to target, failing the test when it does
// not answer within limit.
func forwardTo(t *testing.T, s *Service, target string, limit time.Duration) (routeAnswer, error) {
	t.Helper()
	type result struct {
		a   routeAnswer
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := s.forwardRoute(context.Background(), "r", plugin.RouteRequest{Method: http.MethodGet, Path: "/app/x"},
			plugin.RouteResponse{Action: plugin.ActionForward, Target: target})
		done <- result{a, err}
	}()
	select {
	case r := <-done:
		return r.a, r.err
	case <-time.After(limit):
		t.Fatalf("forward to %s still waiting after %v", target, limit)
	}
	return routeAnswer{}, nil
}

// TestRouteForwardTimesOut: an upstream that never answers cannot hold a
// route call: the forward gives up with 607 once the header wait passes.
func TestRouteForwardTimesOut(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	_, err := forwardTo(t, routeService(200*time.Millisecond), up.URL, 10*time.Second)
	if c, _ := ptp.Describe(err); c != ptp.NetworkUnreachable {
		t.Fatalf("forward to a silent upstream: %v (code %s), want %s", err, c, ptp.NetworkUnreachable)
	}
}

// TestRouteForwardRedirectsBounded: an upstream redirecting to itself
// without end is followed routeRedirects times, then its redirect is the
// answer — neither an endless loop nor an error.
func TestRouteForwardRedirectsBounded(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/app/x", http.StatusFound)
	}))
	defer up.Close()
	a, err := forwardTo(t, routeService(time.Minute), up.URL, 10*time.Second)
	if err != nil || a.Status != http.StatusFound {
		t.Fatalf("forward to a redirect loop: status %d, %v; want the %d itself", a.Status, err, http.StatusFound)
	}
	if got := hits.Load(); got != routeRedirects+1 {
		t.Errorf("upstream asked %d times, want %d (the request and %d redirects)", got, routeRedirects+1, routeRedirects)
	}
}

// TestRouteForwardStaysOnUpstream: a redirect off the upstream the route
// handler named (another host or port) is not followed but answered.
func TestRouteForwardStaysOnUpstream(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/secret", http.StatusTemporaryRedirect)
	}))
	defer up.Close()
	a, err := forwardTo(t, routeService(time.Minute), up.URL, 10*time.Second)
	if err != nil || a.Status != http.StatusTemporaryRedirect {
		t.Fatalf("forward to an off-upstream redirect: status %d, %v; want the %d itself", a.Status, err, http.StatusTemporaryRedirect)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host was asked %d times", n)
	}
}

// TestDrainWakesWaiters: Drain cancels what waits under untilDrain, and
// may be called again.
func TestDrainWakesWaiters(t *testing.T) {
	s := routeService(time.Minute)
	ctx, cancel := s.untilDrain(context.Background())
	defer cancel()
	if s.draining() {
		t.Fatal("draining before Drain")
	}
	s.Drain()
	s.Drain()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a waiter was not woken by Drain")
	}
	if !s.draining() {
		t.Error("not draining after Drain")
	}
}
