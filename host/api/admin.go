package api

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/panel"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The operator's side of the node — the control API, the operator figures
// of /stats, pprof and the web panel — is declared once (controlRoutes,
// panelRoutes) and mounted on whichever port serves it: on the data port
// behind the operator rule, or, with an admin port (HTTPConfig.AdminPort),
// on the admin port behind the same rule while the data port refuses every
// one of those routes with errElsewhere.

// gate says whether r may use the operator's side of the port it came to:
// nil lets it through, an error (a *ptp.Error) is the refusal.
type gate func(r *http.Request) error

// side is how a port admits callers to the operator's routes: api guards
// the control API, the operator figures of /stats and pprof; page guards
// the panel's files, which hold no data (the page reads everything through
// the API, with the admin token an operator on another machine types into
// it — so the page must load for that operator before it has the token).
type side struct {
	api, page gate
	port      string // names the port in audit records: "" for the data port
	audit     bool   // records control changes; false where control is not served (elsewhereSide)
}

// operatorSide is the operator's side of a port that serves it: the
// operator rule for the API, and the page for anyone but a partner node.
func (h *Handler) operatorSide() side { return side{api: h.operator, page: notPartner, audit: true} }

// elsewhereSide is the data port's side when the node has an admin port.
// It audits nothing: no change can be made there, and anyone who reaches
// the data port could otherwise fill the audit log with its 404s.
var elsewhereSide = side{api: elsewhere, page: elsewhere}

// errElsewhere is the data port's answer to a control call when the node
// has an admin port. It is 404, not 403: the route is not served at this
// address at all, and no credential would open it here — a 403 would send
// an operator looking for a token that cannot help. The message names the
// admin port but not its address, which strangers have no need to learn.
var errElsewhere = ptp.Errorf(ptp.NotFound, "control endpoints are served on the node's admin port (--admin-listen), not on this port")

// elsewhere is the data port's gate when the node has an admin port.
func elsewhere(*http.Request) error { return errElsewhere }

// notPartner refuses partner nodes (callers with a client certificate):
// nothing of the operator's side is theirs.
func notPartner(r *http.Request) error {
	if connOf(r.Context()).HasCert() {
		return errPartner
	}
	return nil
}

// guard lets through the requests g admits and answers the others with
// g's refusal.
func guard(g gate) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := g(r); err != nil {
				markRefused(r.Context()) // for the access log and audited (audit.Log.Refused's bound)
				writeReply(w, r, fail(err))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// mountControl mounts the operator's routes on r behind s's gates.
func (h *Handler) mountControl(r chi.Router, s side, cfg HTTPConfig) {
	r.Group(func(c chi.Router) {
		c.Use(h.observed) // observe.go
		if s.audit {
			c.Use(h.audited(s.port)) // audit.go
		}
		c.Use(guard(s.api))
		h.controlRoutes(c, cfg)
	})
	r.Group(func(c chi.Router) {
		c.Use(guard(s.page))
		panelRoutes(c)
	})
}

// controlRoutes are the operator's API routes, the one list of them: every
// control endpoint and pprof. A middleware every control route needs is
// added with c.Use at the top.
func (h *Handler) controlRoutes(c chi.Router, cfg HTTPConfig) {
	c.Post("/v1/interconn/node/refresh", jsonOp("node refresh", h.ident.Refresh))
	c.Get("/v1/interconn/node", h.nodeGet)
	h.netRoutes(c)
	h.pluginRoutes(c)
	h.sessionRoutes(c) // sessions.go: GET /v1/interconn/sessions
	h.registryRoutes(c, cfg.Registry, cfg.Health)
	pprofRoutes(c)
	if cfg.Metrics != nil {
		c.Method(http.MethodGet, "/metrics", cfg.Metrics) // Prometheus text format (host/metrics)
	}
}

// pprofRoutes serves net/http/pprof's handlers under /debug/pprof/ on c
// (never on http.DefaultServeMux, which no server of the node serves).
func pprofRoutes(c chi.Router) {
	c.HandleFunc("/debug/pprof/*", pprof.Index) // the index and every named profile (heap, goroutine, …)
	c.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	c.HandleFunc("/debug/pprof/profile", pprof.Profile)
	c.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	c.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// panelRoutes serve the panel's files under panel.Path.
func panelRoutes(c chi.Router) {
	files := panel.Handler()
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		c.Method(m, panel.Path+"*", files)
	}
	c.Get(strings.TrimSuffix(panel.Path, "/"), toPanel)
}

// toPanel redirects to the panel.
func toPanel(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, panel.Path, http.StatusFound)
}

// adminRouter is the admin port's handler: the probes, the operator's
// routes, and / leading to the panel. Nothing else: no container or
// partner endpoint, no route plugin, no registered service.
func (h *Handler) adminRouter(cfg HTTPConfig) http.Handler {
	r := chi.NewRouter()
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeReply(w, r, fail(ptp.Errorf(ptp.NotFound, "no endpoint %s on the admin port", r.URL.Path)))
	})
	r.MethodNotAllowed(methodNotAllowed)
	s := h.operatorSide()
	s.port = "admin port"
	h.probeRoutes(r, s.api)
	h.mountControl(r, s, cfg)
	r.Group(func(c chi.Router) {
		c.Use(guard(s.page))
		c.Get("/", toPanel)
	})
	return r
}

// probeRoutes serves /stats (figures for those g admits) and /healthz.
func (h *Handler) probeRoutes(r chi.Router, g gate) {
	for _, m := range []string{http.MethodGet, http.MethodHead} { // HEAD: same status, no body
		r.Method(m, "/stats", h.stats(g))
		r.Method(m, "/healthz", http.HandlerFunc(h.healthz))
	}
}

// Admin is the admin port's handler; nil unless HTTPConfig.AdminPort.
func (h *Handler) Admin() http.Handler { return h.admin }
