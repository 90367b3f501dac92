package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// registryRoutes are the control endpoints of the service registry (`mesh
// registry`); health fills the listing's per-instance health (nil: unknown).
func (h *Handler) registryRoutes(control chi.Router, reg *registry.Store, health registry.HealthFunc) {
	if reg == nil {
		return
	}
	control.Post("/v1/interconn/registry/register", func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, registry.MaxBody)
		if err != nil {
			answer(w, r, nil, err)
			return
		}
		parsed, err := registry.ParseRegistration(body, time.Now())
		if err != nil {
			answer(w, r, nil, err)
			return
		}
		renewing := noteRegistration(r.Context(), reg, parsed) // audit.go: an identical renewal is not audited
		st, err := reg.Register(r.Context(), parsed)
		if renewing && err == nil {
			quietAudit(r.Context())
		}
		answer(w, r, st, err)
	})
	control.Post("/v1/interconn/registry/unregister", jsonOp("unregister request", func(ctx context.Context, u UnregisterRequest) (map[string]string, error) {
		if u.Name == "" || u.InstanceID == "" {
			return nil, ptp.Errorf(ptp.BadRequest, "send {\"name\": …, \"instance_id\": …}, both non-empty")
		}
		return map[string]string{"name": u.Name, "instance_id": u.InstanceID, "removed": "true"},
			reg.Unregister(ctx, u.Name, u.InstanceID)
	}))
	control.Get("/v1/interconn/registry", func(w http.ResponseWriter, r *http.Request) {
		out := []registry.Listed{}
		for _, st := range reg.List() {
			out = append(out, st.Listing(health))
		}
		writeJSON(w, ptp.OK, out)
	})
}

// UnregisterRequest is the body of POST /v1/interconn/registry/unregister:
// {"name", "instance_id"}. The older Mesh's clients send the whole
// registration they registered; its other fields are accepted and ignored.
type UnregisterRequest struct {
	Name        string          `json:"name"`
	InstanceID  string          `json:"instance_id"`
	Kind        json.RawMessage `json:"kind,omitempty"`
	Address     json.RawMessage `json:"address,omitempty"`
	Timestamp   json.RawMessage `json:"timestamp,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	Content     json.RawMessage `json:"content,omitempty"`
}
