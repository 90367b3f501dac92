package meshtest

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// GRPCUpstream is a real gRPC server on loopback standing for a registered
// service: grpc.testing.TestService (unary, server-streaming and
// bidirectional calls), and, on every other method path, an echo of
// BytesValue messages. Each answer names the upstream, so tests see which
// instance served them.
type GRPCUpstream struct {
	Name  string
	Addr  string
	Calls atomic.Int64 // calls served
	Last  atomic.Value // metadata.MD of the last echo call, as it arrived
	srv   *grpc.Server
	testgrpc.UnimplementedTestServiceServer
}

// StartGRPCUpstream serves a GRPCUpstream named name until the test ends
// or Stop is called.
func StartGRPCUpstream(tb testing.TB, name string) *GRPCUpstream {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := &GRPCUpstream{Name: name, Addr: ln.Addr().String()}
	u.srv = grpc.NewServer(grpc.UnknownServiceHandler(u.echo))
	testgrpc.RegisterTestServiceServer(u.srv, u)
	go func() { _ = u.srv.Serve(ln) }()
	tb.Cleanup(u.Stop)
	return u
}

// Stop stops the server at once, cutting calls in flight.
func (u *GRPCUpstream) Stop() { u.srv.Stop() }

// UnaryCall answers with the request's payload, and the upstream's name
// as Hostname.
func (u *GRPCUpstream) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	u.Calls.Add(1)
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-upstream", u.Name))
	return &testgrpc.SimpleResponse{Payload: in.GetPayload(), Hostname: u.Name}, nil
}

// StreamingOutputCall sends one message per response parameter, of the
// size it asks for, each byte the message's index.
func (u *GRPCUpstream) StreamingOutputCall(in *testgrpc.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	u.Calls.Add(1)
	for i, p := range in.GetResponseParameters() {
		body := make([]byte, p.GetSize())
		for j := range body {
			body[j] = byte(i)
		}
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: body}}); err != nil {
			return err
		}
	}
	return nil
}

// FullDuplexCall echoes each request's payload as it arrives.
func (u *GRPCUpstream) FullDuplexCall(s grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	u.Calls.Add(1)
	for {
		in, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

// echo answers every message on any other method with the same bytes,
// prefixed by the upstream's name and the method.
func (u *GRPCUpstream) echo(_ any, s grpc.ServerStream) error {
	u.Calls.Add(1)
	if md, ok := metadata.FromIncomingContext(s.Context()); ok {
		u.Last.Store(md)
	}
	method, _ := grpc.MethodFromServerStream(s)
	for {
		var in wrapperspb.BytesValue
		if err := s.RecvMsg(&in); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		out := append([]byte(u.Name+" "+method+" "), in.GetValue()...)
		if err := s.SendMsg(wrapperspb.Bytes(out)); err != nil {
			return err
		}
	}
}
