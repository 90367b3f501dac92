package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// netRoutes are the partner endpoints: control ones for the operator, and
// the two a partner's node calls during the weave handshake.
func (h *Handler) netRoutes(control, peer chi.Router) {
	control.Post("/v1/interconn/net/refresh", h.netRefresh)
	control.Post("/v1/interconn/net/weave", h.netByID(h.net.Weave))
	control.Post("/v1/interconn/net/ack", h.netAck)
	control.Post("/v1/interconn/net/remove", h.netRemove)
	control.Post("/v1/interconn/net/disable", h.netDisable(true))
	control.Post("/v1/interconn/net/enable", h.netDisable(false))
	control.Get("/v1/interconn/net", h.netList)
	control.Get("/v1/interconn/net/{node_id}", h.netGet)
	peer.Post("/v1/interconn/net/hello", h.netHello)
	peer.Post("/v1/interconn/net/confirm", h.netConfirm)
}

// decodeBody reads a small JSON control body into v.
func decodeBody(w http.ResponseWriter, r *http.Request, what string, v any) error {
	body, err := readBody(w, r, 1<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return ptp.Errorf(ptp.BadRequest, "body is not a valid %s: %v", what, jsonProblem(err))
	}
	return nil
}

// answer writes v as the content of a reply, or err.
func answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		writeReply(w, r, fail(err))
		return
	}
	writeJSON(w, ptp.OK, v)
}

func (h *Handler) netRefresh(w http.ResponseWriter, r *http.Request) {
	var req network.RouteRequest
	if err := decodeBody(w, r, "net refresh", &req); err != nil {
		answer(w, r, nil, err)
		return
	}
	route, err := h.net.Refresh(r.Context(), req)
	answer(w, r, route, err)
}

type nodeBody struct {
	NodeID string `json:"node_id"`
}

func (h *Handler) readNodeID(w http.ResponseWriter, r *http.Request) (string, error) {
	var b nodeBody
	if err := decodeBody(w, r, "request", &b); err != nil {
		return "", err
	}
	if b.NodeID == "" {
		return "", ptp.Errorf(ptp.BadRequest, "missing node_id")
	}
	return b.NodeID, nil
}

// netByID serves an operation on one route named by {node_id}.
func (h *Handler) netByID(op func(ctx context.Context, id string) (network.Route, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := h.readNodeID(w, r)
		if err != nil {
			answer(w, r, nil, err)
			return
		}
		route, err := op(r.Context(), id)
		answer(w, r, route, err)
	}
}

func (h *Handler) netDisable(off bool) http.HandlerFunc {
	return h.netByID(func(ctx context.Context, id string) (network.Route, error) { return h.net.SetDisabled(ctx, id, off) })
}

func (h *Handler) netRemove(w http.ResponseWriter, r *http.Request) {
	id, err := h.readNodeID(w, r)
	if err == nil {
		err = h.net.Remove(r.Context(), id)
	}
	answer(w, r, map[string]string{"node_id": id, "removed": "true"}, err)
}

func (h *Handler) netAck(w http.ResponseWriter, r *http.Request) {
	var req network.AckRequest
	if err := decodeBody(w, r, "net ack", &req); err != nil {
		answer(w, r, nil, err)
		return
	}
	route, err := h.net.Ack(r.Context(), req)
	answer(w, r, route, err)
}

func (h *Handler) netList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, ptp.OK, h.net.List())
}

func (h *Handler) netGet(w http.ResponseWriter, r *http.Request) {
	route, err := h.net.Get(chi.URLParam(r, "node_id"))
	answer(w, r, route, err)
}

// netHello answers a partner's handshake. Anyone may call it: it records a
// pending route that this node's operator must ack.
func (h *Handler) netHello(w http.ResponseWriter, r *http.Request) {
	var hello network.Hello
	if err := decodeBody(w, r, "hello", &hello); err != nil {
		answer(w, r, nil, err)
		return
	}
	reply, err := h.net.Greet(r.Context(), connOf(r.Context()), hello)
	answer(w, r, reply, err)
}

// netConfirm records that a partner acked this node's handshake; it must
// come over mTLS with the partner's certificate.
func (h *Handler) netConfirm(w http.ResponseWriter, r *http.Request) {
	err := h.net.Confirmed(r.Context(), connOf(r.Context()))
	answer(w, r, map[string]string{"confirmed": "true"}, err)
}
