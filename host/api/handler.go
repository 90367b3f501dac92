package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"github.com/ppcmesh/mesh/host/internal/loopback"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/audit"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
	"github.com/ppcmesh/mesh/host/registry"
)

// Handler is the node's HTTP interface.
type Handler struct {
	svc        *Service
	ident      *identity.Store
	queue      *queue.Queue
	net        *network.Network
	ready      func(context.Context) error
	cluster    func(context.Context) any
	maxBody    int64
	adminToken string
	router     chi.Router
	admin      http.Handler // the admin port's routes; nil without one
	audit      *audit.Log   // records control changes; nil: none (audit.go)
	version    string       // the binary's, for /stats
}

// HTTPConfig configures the HTTP interface.
type HTTPConfig struct {
	MaxBody    int64                       // largest request body, bytes
	AdminToken string                      // lets non-loopback callers use control endpoints
	Ready      func(context.Context) error // readiness of the node's store
	Cluster    func(context.Context) any   // how this replica sees its cluster, for /stats
	Registry   *registry.Store             // the service registry; nil: no registry endpoints
	Health     registry.HealthFunc         // health of registered instances, for the registry listing
	Metrics    http.Handler                // serves GET /metrics among the control routes; nil: no /metrics
	// AdminPort moves the operator's routes (controlRoutes) to the handler
	// Admin returns, for a separate admin port: the data port then refuses
	// them, and its /stats shows probes no figures.
	AdminPort bool
	Audit     *audit.Log // records every control change with its caller (audit.go); nil: none
	Version   string     // the binary's version, reported in /stats (to tell an upgraded node)
}

// NewHandler builds the HTTP routes.
func NewHandler(svc *Service, ident *identity.Store, q *queue.Queue, net *network.Network, cfg HTTPConfig) *Handler {
	h := &Handler{svc: svc, ident: ident, queue: q, net: net, ready: cfg.Ready, cluster: cfg.Cluster, maxBody: cfg.MaxBody, adminToken: cfg.AdminToken, version: cfg.Version, audit: cfg.Audit}
	r := chi.NewRouter()
	r.NotFound(h.serveService) // registered services; see the rules of precedence in proxy.go
	r.MethodNotAllowed(methodNotAllowed)
	control := h.operatorSide()
	if cfg.AdminPort {
		control = elsewhereSide
		h.admin = h.adminRouter(cfg)
	}
	h.probeRoutes(r, control.api)
	r.Route("/v1/interconn/chan", func(r chi.Router) {
		for _, m := range []ptp.Method{ptp.Push, ptp.Pop, ptp.Peek, ptp.Release} {
			r.Post("/"+string(m), h.chanHandler(m))
		}
		r.Post("/invoke", h.invokeHandler)
		r.Post("/transport", h.invokeHandler)
	})
	h.peerRoutes(r)
	h.mountControl(r, control, cfg) // see admin.go
	h.router = r
	return h
}

// ServeHTTP serves r: with a route handler plugin when one claims its path
// (never the node's own endpoints), else with the node's routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.serveRoute(w, r, r.URL.Path) {
		return
	}
	h.router.ServeHTTP(w, r)
}

// operator says whether r comes from an operator: a loopback caller, or one
// presenting the admin bearer token; never a partner node (a caller with a
// client certificate).
func (h *Handler) operator(r *http.Request) error {
	if err := notPartner(r); err != nil {
		return err
	}
	if loopback.Is(r.RemoteAddr) || h.hasToken(r) {
		return nil
	}
	return ptp.Errorf(ptp.Unauthorized, "control endpoints answer loopback callers, or others with the admin bearer token")
}

// errPartner refuses a partner node the operator's side.
var errPartner = ptp.Errorf(ptp.Unauthorized, "control endpoints are not open to partner nodes")

func (h *Handler) hasToken(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && h.adminToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.adminToken)) == 1
}

// NodeInfo is the content of GET /v1/interconn/node: the node's public
// identity and the address it tells partners.
type NodeInfo struct {
	identity.Public
	Advertise string `json:"advertise"`
}

// nodeGet shows the public identity and the address told to partners.
func (h *Handler) nodeGet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, ptp.OK, NodeInfo{h.ident.Public(), h.net.Advertise()})
}

// Health is the content of every /healthz reply, ready or not, and of a
// /stats reply while the node cannot serve.
type Health struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"` // why the node cannot serve
}

// healthz is the readiness probe: 200 when the node can serve, 503 with
// the reason otherwise, both as {code, message, content: Health}.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if err := h.ready(r.Context()); err != nil {
		writeNotReady(w, err)
		return
	}
	writeJSON(w, ptp.OK, Health{Ready: true})
}

// writeNotReady answers a probe of a node that cannot serve: HTTP 503,
// which probes and load balancers understand, in the usual envelope with
// code E0000000500 (the code table has no "unavailable": its 503 is a
// routing loop).
func writeNotReady(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": ptp.SystemError, "message": "not ready: " + err.Error(),
		"content": Health{Reason: err.Error()}})
}

// writeJSON answers {code, message, content: v}.
func writeJSON(w http.ResponseWriter, c ptp.Code, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(c.HTTP())
	_ = json.NewEncoder(w).Encode(map[string]any{"code": c, "message": c.Message(), "content": v})
}
