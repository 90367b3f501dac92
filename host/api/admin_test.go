package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// operatorRoute is one route of the operator's side, as a request path.
type operatorRoute struct{ method, path string }

// operatorRoutes walks the one declaration of the operator's routes
// (controlRoutes and panelRoutes), so that the tests below cover every one,
// including routes added later.
func operatorRoutes(t *testing.T, h *Handler, cfg HTTPConfig) []operatorRoute {
	t.Helper()
	r := chi.NewRouter()
	h.controlRoutes(r, cfg)
	panelRoutes(r)
	var out []operatorRoute
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		p := strings.NewReplacer("{node_id}", "node-x", "{name}", "plugin-x", "*", "x").Replace(route)
		out = append(out, operatorRoute{method, p})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out, operatorRoute{http.MethodGet, "/metrics"}) ||
		!slices.Contains(out, operatorRoute{http.MethodPost, "/v1/interconn/registry/register"}) || len(out) < 20 {
		t.Fatalf("only %d operator routes: %v", len(out), out)
	}
	return out
}

// bareConfig is cfg with every optional operator route present.
func bareConfig(cfg HTTPConfig) HTTPConfig {
	cfg.Registry = &registry.Store{}
	cfg.Metrics = http.NotFoundHandler()
	cfg.Ready = func(context.Context) error { return nil }
	return cfg
}

// bareHandler is a Handler on bareConfig(cfg) whose routes are never
// reached: every request below is refused by a gate before any handler
// runs.
func bareHandler(cfg HTTPConfig) *Handler {
	return NewHandler(&Service{}, nil, nil, nil, bareConfig(cfg))
}

// serve sends method path from remote to h and decodes the PTP reply.
func serve(t *testing.T, h http.Handler, method, path, remote string) (int, ptp.Reply) {
	t.Helper()
	// Bounded: should a gate let a request through, pprof's profile would
	// otherwise run for its default 30 s.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader("{}"))
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var rep ptp.Reply
	_ = json.Unmarshal(rec.Body.Bytes(), &rep)
	return rec.Code, rep
}

// TestAdminPortTakesEveryOperatorRoute: with an admin port, the data port
// answers every operator route with 404 naming the admin port, even to a
// loopback caller with the token; the admin port refuses a caller from
// another machine without the token (the page's files aside, which hold no
// data), so binding it to 0.0.0.0 opens nothing.
func TestAdminPortTakesEveryOperatorRoute(t *testing.T) {
	cfg := bareConfig(HTTPConfig{AdminPort: true, AdminToken: "t0ken"})
	h := bareHandler(cfg)
	if h.Admin() == nil {
		t.Fatal("no admin handler with AdminPort")
	}
	for _, rt := range operatorRoutes(t, h, cfg) {
		code, rep := serve(t, h, rt.method, rt.path, "127.0.0.1:5000")
		if code != http.StatusNotFound || rep.Code != ptp.NotFound || !strings.Contains(rep.Message, "admin port") {
			t.Errorf("data port %s %s: %d %s %q, want 404 naming the admin port", rt.method, rt.path, code, rep.Code, rep.Message)
		}
		if strings.HasPrefix(rt.path, "/panel") {
			continue
		}
		if code, rep := serve(t, h.Admin(), rt.method, rt.path, "192.0.2.10:5000"); code != http.StatusForbidden || rep.Code != ptp.Unauthorized {
			t.Errorf("admin port, remote caller without token, %s %s: %d %s", rt.method, rt.path, code, rep.Code)
		}
	}
}

// TestWithoutAdminPortTheDataPortKeepsTheOperatorRule: no admin port, no
// admin handler; the data port gates every operator route with the operator
// rule, as before.
func TestWithoutAdminPortTheDataPortKeepsTheOperatorRule(t *testing.T) {
	cfg := bareConfig(HTTPConfig{AdminToken: "t0ken"})
	h := bareHandler(cfg)
	if h.Admin() != nil {
		t.Fatal("an admin handler without AdminPort")
	}
	for _, rt := range operatorRoutes(t, h, cfg) {
		if strings.HasPrefix(rt.path, "/panel") {
			continue
		}
		if code, rep := serve(t, h, rt.method, rt.path, "192.0.2.10:5000"); code != http.StatusForbidden || rep.Code != ptp.Unauthorized {
			t.Errorf("data port, remote caller without token, %s %s: %d %s", rt.method, rt.path, code, rep.Code)
		}
	}
}

// TestDataPortStatsShowNoFiguresWithAnAdminPort: /stats keeps answering
// probes on the data port, without figures, even to a loopback caller.
func TestDataPortStatsShowNoFiguresWithAnAdminPort(t *testing.T) {
	h := bareHandler(HTTPConfig{AdminPort: true})
	for _, p := range []string{"/stats", "/healthz"} {
		code, rep := serve(t, h, http.MethodGet, p, "127.0.0.1:5000")
		if code != http.StatusOK || rep.Code != ptp.OK {
			t.Fatalf("%s on the data port: %d %s", p, code, rep.Code)
		}
	}
	_, rep := serve(t, h, http.MethodGet, "/stats", "127.0.0.1:5000")
	if string(rep.Content) != `{"serving":true}` {
		t.Fatalf("data port /stats with an admin port: %s", rep.Content)
	}
}
