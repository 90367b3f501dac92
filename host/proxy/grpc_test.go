package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// testService is the upstream: grpc_testing's TestService, echoing
// payloads byte for byte and metadata "x-echo" back as header and trailer.
type testService struct {
	testgrpc.UnimplementedTestServiceServer
	name string
}

func echoMD(ctx context.Context) metadata.MD {
	md, _ := metadata.FromIncomingContext(ctx)
	return metadata.Pairs("x-echo", first(md["x-echo"]))
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (s testService) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	grpc.SetHeader(ctx, echoMD(ctx))
	grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", s.name))
	if st := in.GetResponseStatus(); st != nil {
		return nil, status.Error(codes.Code(st.Code), st.Message)
	}
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: in.GetPayload().GetBody()}, Username: s.name}, nil
}

func (s testService) StreamingOutputCall(in *testgrpc.StreamingOutputCallRequest, out grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	out.SetHeader(echoMD(out.Context()))
	body := in.GetPayload().GetBody()
	for _, p := range in.GetResponseParameters() {
		if err := out.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: body[:p.GetSize()]}}); err != nil {
			return err
		}
	}
	out.SetTrailer(metadata.Pairs("x-trailer", s.name))
	return nil
}

func (s testService) FullDuplexCall(stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
}

// serveGRPC serves s on 127.0.0.1:0 until the test ends.
func serveGRPC(t testing.TB, s *grpc.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// upstreamGRPC is a real gRPC server of TestService.
func upstreamGRPC(t testing.TB, name string) string {
	s := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(s, testService{name: name})
	return serveGRPC(t, s)
}

// frontGRPC hosts the proxy exactly as the node does: the proxy's codec,
// an unknown-service handler, and a real proto service of its own (health).
func frontGRPC(t testing.TB, p *proxy.Proxy, tbl *table) *grpc.ClientConn {
	s := grpc.NewServer(grpc.ForceServerCodecV2(proxy.Codec()), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		rt, ok := tbl.Match(method, registry.ProtoGRPC)
		if !ok {
			return status.Error(ptp.NoSuchService.GRPC(), "no such service")
		}
		err := p.ServeGRPC(stream, method, rt)
		var pe *ptp.Error
		if errors.As(err, &pe) {
			return status.Error(pe.Code.GRPC(), pe.Error())
		}
		return err
	}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	cc, err := grpc.NewClient(serveGRPC(t, s), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// grpcSetup proxies TestService to the given instances.
func grpcSetup(t testing.TB, addrs ...string) (testgrpc.TestServiceClient, *proxy.Proxy, registry.Route, *grpc.ClientConn) {
	rt := route(registry.ProtoGRPC, "/grpc.testing.TestService/", addrs...)
	rt.Prefix = true
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	cc := frontGRPC(t, p, tbl)
	return testgrpc.NewTestServiceClient(cc), p, rt, cc
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	(&pattern{n: 7}).Read(b)
	return b
}

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "x-echo", "marco")
}

func TestGRPCUnaryByteExactWithMetadata(t *testing.T) {
	client, p, rt, _ := grpcSetup(t, upstreamGRPC(t, "up"))
	body := randomBytes(300 << 10)
	var hdr, trl metadata.MD
	res, err := client.UnaryCall(callCtx(t), &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: body}}, grpc.Header(&hdr), grpc.Trailer(&trl))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.GetPayload().GetBody(), body) || res.GetUsername() != "up" {
		t.Fatal("payload changed on the way")
	}
	if first(hdr["x-echo"]) != "marco" || first(trl["x-trailer"]) != "up" {
		t.Fatalf("header %v trailer %v", hdr, trl)
	}
	_, err = client.UnaryCall(callCtx(t), &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Fatalf("status %v, want the upstream's NotFound", st)
	}
	if s := statsOf(p, rt.Key); s.Requests != 2 || s.Classes["OK"] != 1 || s.Classes["NotFound"] != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestGRPCServerStreaming(t *testing.T) {
	client, _, _, _ := grpcSetup(t, upstreamGRPC(t, "up"))
	body := randomBytes(64 << 10)
	sizes := []int32{1, 1000, 64 << 10, 0, 17}
	req := &testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: body}}
	for _, n := range sizes {
		req.ResponseParameters = append(req.ResponseParameters, &testgrpc.ResponseParameters{Size: n})
	}
	stream, err := client.StreamingOutputCall(callCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		res, err := stream.Recv()
		if err != nil || !bytes.Equal(res.GetPayload().GetBody(), body[:n]) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("end: %v, want EOF", err)
	}
	if hdr, _ := stream.Header(); first(hdr["x-echo"]) != "marco" || first(stream.Trailer()["x-trailer"]) != "up" {
		t.Fatalf("header %v trailer %v", hdr, stream.Trailer())
	}
}

func TestGRPCBidiStreaming(t *testing.T) {
	client, _, _, _ := grpcSetup(t, upstreamGRPC(t, "up"))
	stream, err := client.FullDuplexCall(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		body := randomBytes(i * 997)
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: body}}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv() // a reply before the next send: truly interleaved
		if err != nil || !bytes.Equal(res.GetPayload().GetBody(), body) {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("end: %v, want EOF", err)
	}
}

func TestGRPCOwnProtoServiceUnderProxyCodec(t *testing.T) {
	_, _, _, cc := grpcSetup(t, upstreamGRPC(t, "up"))
	res, err := healthpb.NewHealthClient(cc).Check(callCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("node's own service: %v %v", res, err)
	}
}

func TestGRPCUnopenedCallRetried(t *testing.T) {
	// Probes pass on the slammer (it accepts connections) and would clear
	// its ejection: one probe, the first, before the calls, and no other.
	rt := route(registry.ProtoGRPC, "/grpc.testing.TestService/", slammer(t), upstreamGRPC(t, "up"))
	rt.Prefix, rt.Health.Interval = true, time.Hour
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	client := testgrpc.NewTestServiceClient(frontGRPC(t, p, tbl))
	waitFor(t, 10*time.Second, "the first probes", func() bool {
		_, d0 := healthOf(p, rt.Key, "i0")
		_, d1 := healthOf(p, rt.Key, "i1")
		return d0 == "healthy" && d1 == "healthy"
	})
	for i := range 6 {
		if _, err := client.UnaryCall(callCtx(t), &testgrpc.SimpleRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if ok, detail := healthOf(p, rt.Key, "i0"); ok || !strings.HasPrefix(detail, "ejected: ") {
		t.Fatalf("i0: %v %q, want ejected", ok, detail)
	}
}

// slammer is a loopback address that accepts connections and closes them
// at once: TCP health checks pass, no gRPC call can open.
func slammer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestGRPCNoHealthyInstance(t *testing.T) {
	client, _, _, _ := grpcSetup(t, deadAddr(t))
	_, err := client.UnaryCall(callCtx(t), &testgrpc.SimpleRequest{})
	if st := status.Convert(err); st.Code() != ptp.NoProvider.GRPC() || !bytes.Contains([]byte(st.Message()), []byte(ptp.NoProvider)) {
		t.Fatalf("status %v, want %s", st, ptp.NoProvider)
	}
}

func TestGRPCTimeout(t *testing.T) {
	rt := route(registry.ProtoGRPC, "/grpc.testing.TestService/", upstreamGRPC(t, "up"))
	rt.Prefix, rt.Timeout = true, 100*time.Millisecond
	tbl := newTable(rt)
	client := testgrpc.NewTestServiceClient(frontGRPC(t, newProxy(t, tbl), tbl))
	stream, err := client.FullDuplexCall(callCtx(t)) // the upstream waits for a message that never comes
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if st := status.Convert(err); st.Code() != codes.DeadlineExceeded || !bytes.Contains([]byte(st.Message()), []byte(ptp.Timeout)) {
		t.Fatalf("status %v, want %s", st, ptp.Timeout)
	}
}

func TestForwardGRPCToConnection(t *testing.T) {
	up, err := grpc.NewClient(upstreamGRPC(t, "partner"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	s := grpc.NewServer(grpc.ForceServerCodecV2(proxy.Codec()), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		md, _ := metadata.FromIncomingContext(stream.Context())
		return proxy.ForwardGRPC(stream, method, up, md)
	}))
	cc, err := grpc.NewClient(serveGRPC(t, s), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	body := randomBytes(5000)
	var hdr metadata.MD
	res, err := testgrpc.NewTestServiceClient(cc).UnaryCall(callCtx(t), &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: body}}, grpc.Header(&hdr))
	if err != nil || !bytes.Equal(res.GetPayload().GetBody(), body) || res.GetUsername() != "partner" || first(hdr["x-echo"]) != "marco" {
		t.Fatalf("forwarded call: %v %v", res, err)
	}
}

func TestCloseEndsInFlightCalls(t *testing.T) {
	rt := route(registry.ProtoGRPC, "/grpc.testing.TestService/", upstreamGRPC(t, "up"))
	rt.Prefix = true
	tbl := newTable(rt)
	p := proxy.New(proxy.Config{Routes: tbl})
	client := testgrpc.NewTestServiceClient(frontGRPC(t, p, tbl))
	stream, err := client.FullDuplexCall(callCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // the call is established through the proxy
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the call in flight")
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("the call outlived Close")
	}
}
