package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/audit"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// TestEveryControlChangeIsAudited: every POST route of the operator's API
// (pprof aside) has an operation name in controlOps, and every name there
// is a route, so a change added later cannot go unaudited.
func TestEveryControlChangeIsAudited(t *testing.T) {
	cfg := HTTPConfig{Registry: &registry.Store{}, Metrics: http.NotFoundHandler()} // every route mounted
	routes := map[string]bool{}
	for _, rt := range operatorRoutes(t, bareHandler(cfg), cfg) { // admin_test.go
		if rt.method != http.MethodPost || strings.HasPrefix(rt.path, "/debug/pprof/") {
			continue
		}
		routes[rt.path] = true
		if controlOps[rt.path] == "" {
			t.Errorf("POST %s is not in controlOps: its changes would not be audited", rt.path)
		}
	}
	for p := range controlOps {
		if !routes[p] {
			t.Errorf("controlOps names %s, which is no POST control route", p)
		}
	}
}

// TestAuditRecordsRefusalsWithThePort: a change refused by a gate is
// recorded with its code and the caller as the port saw it — the admin
// port refusing a caller from another machine without the token — while a
// read is not recorded, nor anything sent to the data port of a node with
// an admin port (control is not served there: no change can be made).
func TestAuditRecordsRefusalsWithThePort(t *testing.T) {
	var buf bytes.Buffer
	al, _ := audit.Open(slog.New(slog.NewJSONHandler(&buf, nil)), "")
	h := bareHandler(HTTPConfig{AdminPort: true, AdminToken: "t0ken", Audit: al})
	for _, remote := range []string{"127.0.0.1:5000", "10.1.2.3:4711"} {
		if code, rep := serve(t, h, http.MethodPost, "/v1/interconn/net/weave", remote); code != http.StatusNotFound || rep.Code != ptp.NotFound {
			t.Fatalf("data port: %d %+v", code, rep)
		}
	}
	serve(t, h.Admin(), http.MethodPost, "/v1/interconn/plugin/remove", "10.1.2.3:4711")
	serve(t, h.Admin(), http.MethodGet, "/v1/interconn/net", "10.1.2.3:4711")
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, m)
	}
	want := []map[string]any{
		{"msg": "audit", "audit": true, "operation": "plugin remove", "code": string(ptp.Unauthorized), "caller": "admin port: no credential from 10.1.2.3:4711"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, got[i][k], v)
			}
		}
	}
}
