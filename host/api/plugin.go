package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
)

// pluginRoutes are the control endpoints of `mesh plugin`.
func (h *Handler) pluginRoutes(control chi.Router) {
	reg := h.svc.plugins
	control.Post("/v1/interconn/plugin/install", func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, plugin.MaxModule*4/3+1<<20) // base64 and the rest of the request
		if err != nil {
			answer(w, r, nil, err)
			return
		}
		var req plugin.InstallRequest
		if err := decodeControl("install request", body, &req); err != nil {
			answer(w, r, nil, err)
			return
		}
		noteTarget(r.Context(), map[string]string{"name": req.Name, "sha256": req.SHA256}) // see audit.go
		rec, err := reg.Install(r.Context(), req)
		answer(w, r, redact(rec), err)
	})
	control.Get("/v1/interconn/plugin", func(w http.ResponseWriter, r *http.Request) {
		recs := reg.List()
		for i := range recs {
			recs[i] = redact(recs[i])
		}
		writeJSON(w, ptp.OK, recs)
	})
	control.Get("/v1/interconn/plugin/{name}", func(w http.ResponseWriter, r *http.Request) {
		name, _ := url.PathUnescape(chi.URLParam(r, "name"))
		rec, err := reg.Get(name)
		answer(w, r, redact(rec), err)
	})
	control.Post("/v1/interconn/plugin/remove", byName(func(ctx context.Context, name string) (any, error) {
		return map[string]string{"name": name, "removed": "true"}, reg.Remove(ctx, name)
	}))
	control.Post("/v1/interconn/plugin/enable", byName(func(ctx context.Context, name string) (plugin.Record, error) {
		rec, err := reg.SetEnabled(ctx, name, true)
		return redact(rec), err
	}))
	control.Post("/v1/interconn/plugin/disable", byName(func(ctx context.Context, name string) (plugin.Record, error) {
		rec, err := reg.SetEnabled(ctx, name, false)
		return redact(rec), err
	}))
}

// redact hides configuration values: they may be keys or tokens.
func redact(rec plugin.Record) plugin.Record {
	if len(rec.Config) == 0 {
		return rec
	}
	c := make(map[string]string, len(rec.Config))
	for k := range rec.Config {
		c[k] = "(hidden)"
	}
	rec.Config = c
	return rec
}

// byName serves a call on one plugin, named by {"name"} in the body.
func byName[R any](op func(context.Context, string) (R, error)) http.HandlerFunc {
	return byKey("name", op)
}

// serveRoute serves r with a route handler plugin when one claims path; it
// reports false when none does or the handler said next.
func (h *Handler) serveRoute(w http.ResponseWriter, r *http.Request, path string) bool {
	name, ok := h.svc.plugins.Router(path)
	if !ok {
		return false
	}
	body, err := readBody(w, r, h.maxBody)
	if err != nil {
		writeReply(w, r, fail(err))
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // for the node, if the handler says next
	req := plugin.RouteRequest{Method: r.Method, Path: path, Query: r.URL.RawQuery, Headers: lowerHeaders(r.Header), Body: body}
	res, ok, err := h.svc.route(r.Context(), connOf(r.Context()), name, req)
	switch {
	case err != nil:
		writeReply(w, r, fail(err))
	case ok:
		for k, v := range res.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(res.Status)
		_, _ = w.Write(res.Body)
	}
	return err != nil || ok
}

// routeAnswer is what a route handler made of a request: its own answer,
// or the answer of the target it forwarded to.
type routeAnswer struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// route asks route handler name about req, once the auth policies have
// admitted it; ok is false when the handler said next. A handler's failure
// reaches the caller as the plugin package words it: the handler's name and
// a reference to the node's log, never the guest's text.
func (s *Service) route(ctx context.Context, conn *network.Conn, name string, req plugin.RouteRequest) (routeAnswer, bool, error) {
	ctx, sp := s.startRoute(ctx, name, req)
	defer sp.End()
	req.RemoteAddr = conn.RemoteIP()
	if conn.HasCert() {
		partner, err := s.net.Caller(conn, "")
		if err != nil {
			return routeAnswer{}, false, err
		}
		req.TLSIdentity = partner
	} else if err := s.admit.admit(conn, bearer(req.Headers["authorization"])); err != nil {
		return routeAnswer{}, false, err // a caller without a certificate must be a container
	}
	if err := s.authorizeRoute(ctx, req); err != nil {
		return routeAnswer{}, false, err
	}
	resp, err := s.plugins.Handle(ctx, name, req)
	if err != nil {
		return routeAnswer{}, false, err
	}
	switch resp.Action {
	case plugin.ActionRespond:
		return routeAnswer{Status: orStatus(resp.Status), Headers: resp.Headers, Body: resp.Body}, true, nil
	case plugin.ActionForward:
		res, err := s.forwardRoute(ctx, name, req, resp)
		return res, err == nil, err
	}
	return routeAnswer{}, false, nil
}

// authorizeRoute asks the auth policies about a request for a route
// handler's path, with the fields a chan call gives them: the HTTP method,
// the path, the PTP headers, and who is calling (a partner by its
// certificate, else a container of this node). Policies fail closed, as
// for chan calls; what they add to a push has no message to join here.
func (s *Service) authorizeRoute(ctx context.Context, req plugin.RouteRequest) error {
	caller, source := "container", s.ident.Current().NodeID
	if req.TLSIdentity != "" {
		caller, source = "partner", req.TLSIdentity
	}
	h := req.Headers
	_, err := s.plugins.Authorize(ctx, plugin.AuthRequest{Method: req.Method, Path: req.Path,
		Session: h[ptp.HeaderSessionID], Topic: h[ptp.HeaderTopic], // both lower case
		SourceNode: source, TargetNode: h[ptp.HeaderTargetNodeID], Token: h[ptp.HeaderToken],
		RemoteAddr: req.RemoteAddr, TLSIdentity: req.TLSIdentity, Caller: caller})
	return err
}

func orStatus(s int) int {
	if s < 100 || s > 999 {
		return http.StatusOK
	}
	return s
}

// forwardRoute passes req to the target a route handler chose: a partner
// ("node:ID", over the partner's mTLS link) or a local upstream URL.
func (s *Service) forwardRoute(ctx context.Context, name string, req plugin.RouteRequest, resp plugin.RouteResponse) (routeAnswer, error) {
	target := resp.Target
	node, toPartner := strings.CutPrefix(target, "node:")
	if !toPartner {
		u, err := url.Parse(target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return routeAnswer{}, ptp.Errorf(ptp.BadAddress, "route %s: forward target %q is neither node:ID nor an http(s) URL", name, target)
		}
		target = strings.TrimSuffix(target, "/")
	} else {
		target = "http://partner"
	}
	uri := req.Path
	if req.Query != "" {
		uri += "?" + req.Query
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, target+uri, bytes.NewReader(req.Body))
	if err != nil {
		return routeAnswer{}, ptp.Errorf(ptp.BadRequest, "route %s: %v", name, err)
	}
	for k, v := range req.Headers {
		if !hopHeader(k) {
			out.Header.Set(k, v)
		}
	}
	for k, v := range resp.Headers {
		out.Header.Set(k, v)
	}
	var res *http.Response
	if toPartner {
		res, err = s.net.RoundTrip(node, out)
	} else {
		res, err = s.routes.Do(out)
	}
	if err != nil {
		return routeAnswer{}, &ptp.Error{Code: ptp.NetworkUnreachable, Err: err, Msg: fmt.Sprintf("route %s: forward to %s: %v", name, resp.Target, err)}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, s.limits.MaxBody+1))
	if err != nil || int64(len(body)) > s.limits.MaxBody {
		return routeAnswer{}, ptp.Errorf(ptp.NetworkUnreachable, "route %s: answer from %s unreadable or over %d bytes", name, resp.Target, s.limits.MaxBody)
	}
	headers := map[string]string{}
	for k, v := range res.Header {
		if !hopHeader(k) {
			headers[k] = v[0]
		}
	}
	return routeAnswer{Status: res.StatusCode, Headers: headers, Body: body}, nil
}

// hopHeader names headers that belong to one connection, not the request.
func hopHeader(k string) bool {
	switch strings.ToLower(k) {
	case "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length":
		return true
	}
	return false
}
