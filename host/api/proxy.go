package api

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/http/httputil"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
	"github.com/ppcmesh/mesh/host/tracing"
)

// Services is the registry's side of the node: the routes registered
// services hold, and the proxy that carries calls to them.
type Services struct {
	Routes    registry.Matcher // nil: no service is registered
	Upstreams Upstreams
	Via       string          // the mark this node's forwards carry (proxy.Config.Via); a call bearing it is a loop
	Secrets   []string        // this node's bearer tokens (container, admin): never passed on to an upstream or a partner
	Tracer    *tracing.Tracer // spans of calls, and the trace context they carry on; nil: tracing off
}

// Upstreams carries a call to an instance of a registered route (package
// proxy). Each returns an error only when it answered nothing.
type Upstreams interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request, route registry.Route) error
	ServeGRPC(stream grpc.ServerStream, method string, route registry.Route) error
	Stats() []proxy.RouteStats
}

// The rules of precedence, in one place. A request on the node's port is
// served by the first of:
//  1. the node's own endpoints (chan, invoke, control, probes; the PTP gRPC
//     services), which no route may shadow: the registry refuses their
//     paths, and the router and grpc.Server see them first;
//  2. a route handler plugin claiming the path (HTTP);
//  3. for a container whose request names a partner in x-ptp-target-node-id
//     (or -inst-id): that partner, over its mTLS link;
//  4. the registered route with the longest path matching it: for a
//     partner, only a route exposed to it (else E0000000614).
// Everything else is E0000000404 (HTTP) or E0000000617 (gRPC).

// serviceCall is where a call for a registered path goes, once admitted.
type serviceCall struct {
	partner string         // the partner calling; "" for a container of this node
	target  string         // the partner a container's call goes to; "" for this node's routes
	route   registry.Route // the local route, when target is ""
}

// gateService admits a call for path (HTTP or gRPC, per proto) and finds
// where it goes. Partners are known by their certificates; every other
// caller must be admitted as a container. Auth policies decide last, as
// for chan calls.
func (s *Service) gateService(ctx context.Context, conn *network.Conn, method, path, proto string, hdr map[string]string, via []string) (serviceCall, error) {
	if s.looped(via) {
		return serviceCall{}, ptp.Errorf(ptp.RoutingLoop, "%s came back to the node that forwarded it: a registered instance or a partner's points at this node", path)
	}
	if registry.Reserved(path) {
		// A node path the router did not take (an encoded form, another
		// method): it is nobody's service, here or at a partner.
		return serviceCall{}, noEndpoint(method, path, proto)
	}
	partner, err := s.net.Caller(conn, cmp.Or(hdr[ptp.HeaderSourceNodeID], hdr[ptp.HeaderFromNodeID]))
	if err != nil {
		return serviceCall{}, err
	}
	call := serviceCall{partner: partner}
	if partner == "" {
		if err := s.admit.admit(conn, bearer(hdr["authorization"])); err != nil {
			return serviceCall{}, err
		}
		tn, ti := hdr[ptp.HeaderTargetNodeID], hdr[ptp.HeaderTargetInstID]
		if !isLocal(Request{TargetNode: tn, TargetInst: ti}, s.ident.Current()) {
			if call.target, err = s.net.PartnerNode(tn, ti); err != nil {
				return serviceCall{}, err
			}
		}
	}
	req := plugin.RouteRequest{Method: method, Path: path, Headers: hdr, RemoteAddr: conn.RemoteIP(), TLSIdentity: partner}
	if err := s.authorizeRoute(ctx, req); err != nil {
		return serviceCall{}, err
	}
	if call.target != "" {
		return call, nil
	}
	call.route, err = s.findRoute(method, path, proto, partner)
	return call, err
}

// findRoute is the registered route for path; partners see only the routes
// exposed to them, and learn nothing of the others.
func (s *Service) findRoute(method, path, proto, partner string) (registry.Route, error) {
	var route registry.Route
	ok := false
	if s.services.Routes != nil {
		route, ok = s.services.Routes.Match(path, proto)
	}
	switch {
	case partner != "" && (!ok || !route.ExposedTo(partner)):
		return route, ptp.Errorf(ptp.NotPermitted, "partner %s may not call %s: this node exposes no service there to it", partner, path)
	case !ok:
		return route, noEndpoint(method, path, proto)
	}
	return route, nil
}

// noEndpoint is the answer for a path nothing serves: E0000000617 for a
// gRPC method (Unimplemented, as grpc-go answers), else E0000000404.
func noEndpoint(method, path, proto string) error {
	if proto == registry.ProtoGRPC {
		return ptp.Errorf(ptp.NoSuchService, "no gRPC method %s on this node, and no service registered for it", path)
	}
	return ptp.Errorf(ptp.NotFound, "no endpoint %s %s, and no service registered for it", method, path)
}

// serveService serves an HTTP request no endpoint or route handler took.
func (h *Handler) serveService(w http.ResponseWriter, r *http.Request) {
	if !registry.Clean(r.URL.Path) || !registry.CleanRaw(r.URL.RawPath) {
		// Upstreams differ in how they read "..", "..;", "\" or an encoded
		// separator: no route, here or at a partner, takes such a path.
		writeReply(w, r, fail(ptp.Errorf(ptp.BadRequest, "path %q has an empty, . or .. segment, a backslash or an encoded separator: no route takes it", r.URL.EscapedPath())))
		return
	}
	hdr := lowerHeaders(r.Header)
	call, err := h.svc.gateService(r.Context(), connOf(r.Context()), r.Method, r.URL.Path, registry.ProtoHTTP, hdr, r.Header.Values(proxy.ViaHeader))
	if err == nil {
		h.svc.passOn(call, r.Header.Get("Authorization"), r.Header.Set, r.Header.Del)
	}
	if err == nil && call.target != "" {
		r.Header.Add(proxy.ViaHeader, h.svc.services.Via)
		ctx, cancel := context.WithTimeout(r.Context(), registry.MaxTimeout)
		defer cancel()
		h.svc.partnerProxy(call.target).ServeHTTP(w, r.WithContext(ctx))
		return
	}
	if err == nil {
		err = h.svc.services.Upstreams.ServeHTTP(w, r, call.route)
	}
	if err != nil {
		writeReply(w, r, fail(err))
	}
}

// partnerProxy streams an HTTP request to partner node over its link.
func (s *Service) partnerProxy(node string) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:       func(*httputil.ProxyRequest) {}, // the link sets the partner's address
		Transport:     partnerTransport{net: s.net, node: node},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeReply(w, r, fail(err))
		},
	}
}

// partnerTransport sends a request over a partner's link.
type partnerTransport struct {
	net  *network.Network
	node string
}

func (t partnerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.net.RoundTrip(t.node, r)
}

// looped reports whether this node's own mark is among the via values
// (each may list several, comma-separated).
func (s *Service) looped(via []string) bool {
	if s.services.Via == "" {
		return false
	}
	for _, v := range via {
		for _, mark := range strings.Split(v, ",") {
			if strings.TrimSpace(mark) == s.services.Via {
				return true
			}
		}
	}
	return false
}

// passOn sets the headers a call carries on, to an upstream or a partner:
// the caller's Authorization goes unless it is one of this node's secrets
// (they admit callers to this node and are nobody else's business), and
// the source node is what the node knows, never what the caller claimed:
// the partner its certificate proved, else this node.
func (s *Service) passOn(call serviceCall, authorization string, set func(k, v string), del func(k string)) {
	if tok := bearer(authorization); tok != "" && s.isSecret(tok) {
		del("Authorization")
	}
	del(ptp.HeaderFromNodeID)
	del(ptp.HeaderSourceInstID)
	set(ptp.HeaderSourceNodeID, cmp.Or(call.partner, s.ident.Current().NodeID))
}

// isSecret reports whether tok is one of this node's bearer tokens.
func (s *Service) isSecret(tok string) bool {
	for _, secret := range s.services.Secrets {
		if secret != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(secret)) == 1 {
			return true
		}
	}
	return false
}

// ServeUnknownGRPC serves a gRPC call for a method the node's own services
// do not have: grpc.UnknownServiceHandler.
func (s *Service) ServeUnknownGRPC(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	hdr := make(map[string]string, len(md))
	for k, v := range md {
		if len(v) > 0 {
			hdr[k] = v[0]
		}
	}
	call, err := s.gateService(ctx, connOf(ctx), http.MethodPost, method, registry.ProtoGRPC, hdr, md.Get(proxy.ViaHeader))
	if err != nil {
		return grpcFail(stream, err)
	}
	out := md.Copy()
	s.passOn(call, hdr["authorization"], func(k, v string) { out.Set(k, v) }, func(k string) { out.Delete(k) })
	if call.target != "" {
		_, cc, err := s.net.PartnerGRPC(call.target, "")
		if err != nil {
			return grpcFail(stream, err)
		}
		out.Append(proxy.ViaHeader, s.services.Via)
		ctx, cancel := context.WithTimeout(ctx, registry.MaxTimeout)
		defer cancel()
		return proxy.ForwardGRPC(streamIn{stream, ctx}, method, cc, out)
	}
	// The proxy reads the call's metadata from its context: give it what
	// passes on.
	if err := s.services.Upstreams.ServeGRPC(streamIn{stream, metadata.NewIncomingContext(ctx, out)}, method, call.route); err != nil {
		return grpcFail(stream, err)
	}
	return nil
}

// streamIn is a server stream seen under another context.
type streamIn struct {
	grpc.ServerStream
	ctx context.Context
}

func (s streamIn) Context() context.Context { return s.ctx }

// grpcFail answers a refused gRPC call: the status of the PTP code, with
// the code itself in the x-ptp-code trailer. A status the upstream or the
// partner answered passes as it came.
func grpcFail(stream grpc.ServerStream, err error) error {
	var st interface{ GRPCStatus() *status.Status }
	if errors.As(err, &st) {
		return err
	}
	rep := fail(err)
	stream.SetTrailer(metadata.Pairs(ptp.HeaderCode, string(rep.Code)))
	return status.Error(rep.Code.GRPC(), string(rep.Code)+": "+rep.Message)
}

// lowerHeaders is h with lower-case names, first values only: how auth
// policies and the gate read headers.
func lowerHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 {
			out[strings.ToLower(k)] = v[0]
		}
	}
	return out
}
