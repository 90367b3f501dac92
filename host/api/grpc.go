package api

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host/ptp"
)

// RegisterGRPC registers both PTP services on s, under the package
// org.ppc.ptp and under Kuscia's org.ppc.grpc_ptp.
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
	if err := applyHeaders(chain(grpcHeaders(ctx), mapHeaders(body)), &r); err != nil {
		return transportOut(fail(err)), nil
	}
	return transportOut(t.svc.Do(ctx, r)), nil
}

func (t *transportServer) Push(ctx context.Context, in *ptp.PushInbound) (*ptp.TransportOutbound, error) {
	return t.do(ctx, Request{Method: ptp.Push, Topic: in.Topic, Payload: in.Payload, Metadata: in.Metadata}, in.Metadata)
}

func (t *transportServer) Pop(ctx context.Context, in *ptp.PopInbound) (*ptp.TransportOutbound, error) {
	return t.do(ctx, Request{Method: ptp.Pop, Topic: in.Topic, Timeout: int64(in.Timeout)}, nil)
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
	get := chain(mapHeaders(in.Metadata), grpcHeaders(ctx))
	var rep Reply
	if r, err := decodeInvoke(get, in.Payload); err != nil {
		rep = fail(err)
	} else {
		rep = p.svc.Do(ctx, r)
	}
	return &ptp.Outbound{Code: string(rep.Code), Message: rep.Message, Payload: rep.Payload, Metadata: rep.Metadata}
}

func (p *protocolServer) Invoke(ctx context.Context, in *ptp.Inbound) (*ptp.Outbound, error) {
	return p.invoke(ctx, in), nil
}

// Transport answers each Inbound of the stream in order, so that pushes on
// one stream keep their order in the queue.
func (p *protocolServer) Transport(stream ptp.PrivateTransferProtocol_TransportServer) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(p.invoke(stream.Context(), in)); err != nil {
			return err
		}
	}
}
