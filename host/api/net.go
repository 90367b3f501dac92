package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// netRoutes are the operator's partner endpoints (`mesh net`).
func (h *Handler) netRoutes(control chi.Router) {
	control.Post("/v1/interconn/net/refresh", jsonOp("net refresh", h.net.Refresh))
	control.Post("/v1/interconn/net/weave", byID(h.net.Weave))
	control.Post("/v1/interconn/net/ack", jsonOp("net ack", h.net.Ack))
	control.Post("/v1/interconn/net/remove", byID(func(ctx context.Context, id string) (any, error) {
		return map[string]string{"node_id": id, "removed": "true"}, h.net.Remove(ctx, id)
	}))
	control.Post("/v1/interconn/net/disable", byID(func(ctx context.Context, id string) (network.Route, error) {
		return h.net.SetDisabled(ctx, id, true)
	}))
	control.Post("/v1/interconn/net/enable", byID(func(ctx context.Context, id string) (network.Route, error) {
		return h.net.SetDisabled(ctx, id, false)
	}))
	control.Get("/v1/interconn/net", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, ptp.OK, h.net.List()) })
	control.Get("/v1/interconn/net/{node_id}", func(w http.ResponseWriter, r *http.Request) {
		route, err := h.net.Get(chi.URLParam(r, "node_id"))
		answer(w, r, route, err)
	})
}

// peerRoutes are the endpoints a partner's node calls during the weave
// handshake; they stay on the data port.
func (h *Handler) peerRoutes(peer chi.Router) {
	// The weave handshake: hello and reveal must come over TLS with the
	// caller's certificate (Greet and Revealed check it, so that a refusal
	// carries a PTP code); a confirmation over mTLS from a known partner.
	peer.Post("/v1/interconn/net/hello", boundedOp("hello", maxHandshakeBody, func(ctx context.Context, hello network.Hello) (network.Hello, error) {
		return h.net.Greet(ctx, connOf(ctx), hello)
	}))
	peer.Post("/v1/interconn/net/reveal", boundedOp("reveal", maxHandshakeBody, func(ctx context.Context, rv network.Reveal) (map[string]string, error) {
		return map[string]string{"revealed": "true"}, h.net.Revealed(ctx, connOf(ctx), rv)
	}))
	peer.Post("/v1/interconn/net/confirm", boundedOp("confirmation", maxHandshakeBody, func(ctx context.Context, cf network.Confirmation) (map[string]string, error) {
		return map[string]string{"confirmed": "true"}, h.net.Confirmed(ctx, connOf(ctx), cf)
	}))
}

// maxHandshakeBody bounds a handshake message: a root of at most 16 KiB
// and a few short fields.
const maxHandshakeBody = 64 << 10

// jsonOp serves a control call: a small JSON body decoded into T, handed
// to op, whose result is the reply's content.
func jsonOp[T, R any](what string, op func(context.Context, T) (R, error)) http.HandlerFunc {
	return boundedOp(what, 1<<20, op)
}

// boundedOp is jsonOp with a body of at most limit bytes.
func boundedOp[T, R any](what string, limit int64, op func(context.Context, T) (R, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		body, err := readBody(w, r, limit)
		if err == nil {
			err = decodeControl(what, body, &req)
		}
		if err != nil {
			answer(w, r, nil, err)
			return
		}
		noteTarget(r.Context(), req) // see audit.go
		out, err := op(r.Context(), req)
		answer(w, r, out, err)
	}
}

// decodeControl is the one decoder of control bodies: strict, so that a
// misspelt field ({"adress": …}) is refused with 400 naming it rather than
// ignored (it made a route with no address), as is anything after the
// JSON value.
func decodeControl(what string, body []byte, v any) error {
	if err := strictJSON(body, v); err != nil {
		return ptp.Errorf(ptp.BadRequest, "body is not a valid %s: %v", what, jsonProblem(err))
	}
	return nil
}

// byKey serves a call on one thing, named by the string field key of the
// body ({"node_id": …} for a route, {"name": …} for a plugin), its only
// field.
func byKey[R any](key string, op func(context.Context, string) (R, error)) http.HandlerFunc {
	return jsonOp("request", func(ctx context.Context, b map[string]json.RawMessage) (R, error) {
		var zero R
		for k := range b {
			if k != key {
				return zero, ptp.Errorf(ptp.BadRequest, "body is not a valid request: unknown field %q (the one field is %q)", k, key)
			}
		}
		var id string
		if err := json.Unmarshal(b[key], &id); err != nil || id == "" {
			return zero, ptp.Errorf(ptp.BadRequest, "missing %s: send {%q: \"…\"}, a non-empty string", key, key)
		}
		return op(ctx, id)
	})
}

// byID serves a call on one route, named by {"node_id"} in the body.
func byID[R any](op func(context.Context, string) (R, error)) http.HandlerFunc {
	return byKey("node_id", op)
}

// answer writes v as the content of a reply, or err.
func answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		writeReply(w, r, fail(err))
		return
	}
	noteTarget(r.Context(), v) // what a control change changed, for its audit record
	noteOutcome(r.Context(), ptp.OK, "")
	writeJSON(w, ptp.OK, v)
}
