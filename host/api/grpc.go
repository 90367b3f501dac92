package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	// gzip: the older Mesh's clients and forwarder compress every call.
	// Registering the compressor lets the server read them and answer in
	// kind (grpc-go replies with the compressor the request used).
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/metrics"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
)

// kusciaPackage is the prefix of a gRPC method called in Kuscia's package.
const kusciaPackage = "/org.ppc.grpc_ptp."

// Kuscia's pop timeouts are whole seconds, clamped to this range.
const (
	kusciaMinWait = 1
	kusciaMaxWait = 300
)

// kusciaWait turns a Kuscia timeout in seconds into milliseconds, clamped
// to 1–300 s as Kuscia clamps it; 0 keeps the node's default.
func kusciaWait(seconds int64) int64 {
	if seconds == 0 {
		return 0
	}
	return min(max(seconds, kusciaMinWait), kusciaMaxWait) * 1000
}

// RegisterGRPC registers both PTP services on s, under the package
// org.ppc.ptp and under Kuscia's org.ppc.grpc_ptp (where pop timeouts are
// seconds). gzip-compressed calls are accepted and answered in kind.
func RegisterGRPC(s *grpc.Server, svc *Service) {
	tr := &transportServer{svc: svc}
	pr := &protocolServer{svc: svc}
	ptp.RegisterPrivateTransferTransportServer(s, tr)
	ptp.RegisterPrivateTransferProtocolServer(s, pr)
	for _, d := range []struct {
		desc grpc.ServiceDesc
		impl any
	}{{ptp.PrivateTransferTransport_ServiceDesc, tr}, {ptp.PrivateTransferProtocol_ServiceDesc, pr}} {
		d.desc.ServiceName = "org.ppc.grpc_ptp." + d.desc.ServiceName[len("org.ppc.ptp."):]
		s.RegisterService(&d.desc, d.impl)
	}
}

// grpcHeaders reads the call's gRPC metadata; keys are lower case there.
func grpcHeaders(ctx context.Context) headers {
	md, _ := metadata.FromIncomingContext(ctx)
	return func(name string) string {
		if v := md.Get(name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
}

// messageMetadata is a message's own metadata among an Inbound's headers.
func messageMetadata(md map[string]string) map[string]string {
	var out map[string]string
	for k, v := range md {
		if !ptp.Reserved(k) {
			if out == nil {
				out = make(map[string]string)
			}
			out[k] = v
		}
	}
	return out
}

type connKey struct{}

// ConnContext is the http.Server hook that lets handlers see which
// connection, and which TLS peer, a request came on.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, network.ConnOf(c))
}

// connOf returns the connection a call came on, over gRPC or HTTP.
func connOf(ctx context.Context) *network.Conn {
	if p, ok := peer.FromContext(ctx); ok {
		if c, ok := p.AuthInfo.(*network.Conn); ok {
			return c
		}
	}
	c, _ := ctx.Value(connKey{}).(*network.Conn)
	return c
}

func transportOut(r Reply) *ptp.TransportOutbound {
	return &ptp.TransportOutbound{Code: string(r.Code), Message: r.Message, Payload: r.Payload, Metadata: r.Metadata}
}

// transportServer is PrivateTransferTransport, the container API. Errors
// travel in the reply's code, as PTP clients expect, with gRPC status OK.
type transportServer struct {
	ptp.UnimplementedPrivateTransferTransportServer
	svc *Service
}

func (t *transportServer) do(ctx context.Context, r Request, body map[string]string) (*ptp.TransportOutbound, error) {
	// PTP headers may come as gRPC metadata or, from some clients, in the
	// request's own metadata map.
	r.Conn, r.Wire = connOf(ctx), metrics.TransportGRPC
	if err := applyHeaders(chain(grpcHeaders(ctx), mapHeaders(body)), &r); err != nil {
		rep := fail(err)
		t.svc.refused(r, rep)
		return transportOut(rep), nil
	}
	return transportOut(t.svc.Do(ctx, r)), nil
}

func (t *transportServer) Push(ctx context.Context, in *ptp.PushInbound) (*ptp.TransportOutbound, error) {
	return t.do(ctx, Request{Method: ptp.Push, Topic: in.Topic, Payload: in.Payload, Metadata: in.Metadata}, in.Metadata)
}

func (t *transportServer) Pop(ctx context.Context, in *ptp.PopInbound) (*ptp.TransportOutbound, error) {
	r := Request{Method: ptp.Pop, Topic: in.Topic, Timeout: int64(in.Timeout)}
	if kusciaCall(ctx) {
		r.Timeout, r.Dialect = kusciaWait(r.Timeout), ptp.DialectKuscia
	}
	return t.do(ctx, r, nil)
}

// protocolOp is the operation of a PrivateTransferProtocol call: a frame
// of a transport stream, or an invoke.
func protocolOp(ctx context.Context) metrics.Op {
	if m, _ := grpc.Method(ctx); strings.HasSuffix(m, "/Transport") {
		return metrics.OpTransport
	}
	return metrics.OpInvoke
}

// kusciaCall reports whether the call came on Kuscia's package.
func kusciaCall(ctx context.Context) bool {
	m, _ := grpc.Method(ctx)
	return strings.HasPrefix(m, kusciaPackage)
}

func (t *transportServer) Peek(ctx context.Context, in *ptp.PeekInbound) (*ptp.TransportOutbound, error) {
	return t.do(ctx, Request{Method: ptp.Peek, Topic: in.Topic}, nil)
}

func (t *transportServer) Release(ctx context.Context, in *ptp.ReleaseInbound) (*ptp.TransportOutbound, error) {
	return t.do(ctx, Request{Method: ptp.Release, Topic: in.Topic}, nil)
}

// protocolServer is PrivateTransferProtocol, spoken by partner nodes: each
// Inbound names the operation in x-ptp-uri and carries the inner request.
type protocolServer struct {
	ptp.UnimplementedPrivateTransferProtocolServer
	svc *Service
}

func (p *protocolServer) invoke(ctx context.Context, in *ptp.Inbound) *ptp.Outbound {
	if out, ok := p.invokeRoute(ctx, in); ok {
		return out
	}
	get := chain(mapHeaders(in.Metadata), grpcHeaders(ctx))
	var rep Reply
	if r, err := decodeInvoke(get, in.Payload); err != nil {
		rep = fail(err)
		p.svc.refused(Request{Op: protocolOp(ctx), Wire: metrics.TransportGRPC, Conn: connOf(ctx)}, rep)
	} else {
		if r.Method == ptp.Push && r.Metadata == nil {
			r.Metadata = messageMetadata(in.Metadata)
		}
		r.Conn, r.Op, r.Wire = connOf(ctx), protocolOp(ctx), metrics.TransportGRPC
		rep = p.svc.Do(ctx, r)
	}
	return &ptp.Outbound{Code: string(rep.Code), Message: rep.Message, Payload: rep.Payload, Metadata: rep.Metadata}
}

func (p *protocolServer) Invoke(ctx context.Context, in *ptp.Inbound) (*ptp.Outbound, error) {
	return p.invoke(ctx, in), nil
}

// Transport answers each Inbound of the stream in order, so that pushes on
// one stream keep their order in the queue. When the node stops, the stream
// ends after the message in hand; the partner retries what was unanswered.
func (p *protocolServer) Transport(stream ptp.PrivateTransferProtocol_TransportServer) error {
	ins := make(chan *ptp.Inbound)
	errc := make(chan error, 1)
	go func() {
		for {
			in, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case ins <- in:
			case <-stream.Context().Done():
				return
			}
		}
	}()
	for {
		select {
		case in := <-ins:
			if err := stream.Send(p.invoke(stream.Context(), in)); err != nil {
				return err
			}
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-p.svc.quit:
			return status.Error(codes.Unavailable, "node stopping")
		}
	}
}

// invokeRoute serves an invoke whose x-ptp-uri a route handler plugin claims.
// The answer's HTTP status shows as its code: OK below 400, else the PTP
// code of that status.
func (p *protocolServer) invokeRoute(ctx context.Context, in *ptp.Inbound) (*ptp.Outbound, bool) {
	uri := mapHeaders(in.Metadata)(ptp.HeaderURI)
	name, ok := p.svc.plugins.Router(uri)
	if !ok {
		return nil, false
	}
	req := plugin.RouteRequest{Method: http.MethodPost, Path: uri, Headers: map[string]string{}, Body: in.Payload}
	for k, v := range in.Metadata {
		req.Headers[strings.ToLower(k)] = v
	}
	res, ok, err := p.svc.route(ctx, connOf(ctx), name, req)
	if err != nil {
		rep := fail(err)
		return &ptp.Outbound{Code: string(rep.Code), Message: rep.Message}, true
	}
	if !ok {
		return nil, false
	}
	code := ptp.OK
	if res.Status >= 400 {
		code = ptp.FromHTTP(res.Status)
	}
	return &ptp.Outbound{Code: string(code), Message: http.StatusText(res.Status), Payload: res.Body, Metadata: res.Headers}, true
}
