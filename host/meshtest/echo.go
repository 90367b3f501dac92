package meshtest

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"google.golang.org/grpc"

	"github.com/ppcmesh/mesh/host/ptp"
)

type echoServer struct {
	ptp.UnimplementedPrivateTransferTransportServer
}

func (echoServer) Push(_ context.Context, in *ptp.PushInbound) (*ptp.TransportOutbound, error) {
	return &ptp.TransportOutbound{Code: string(ptp.OK)}, nil
}

// Echo starts a trivial gRPC server and HTTP server on loopback that accept
// a push and answer OK, storing nothing: the machine's ceiling, against
// which benchmarks quote their ratios.
func Echo(tb testing.TB) (grpcAddr, httpURL string) {
	tb.Helper()
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(256 << 20))
	ptp.RegisterPrivateTransferTransportServer(gs, echoServer{})
	go func() { _ = gs.Serve(gl) }()
	tb.Cleanup(gs.Stop)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set(ptp.HeaderCode, string(ptp.OK))
	})}
	go func() { _ = hs.Serve(hl) }()
	tb.Cleanup(func() { _ = hs.Close() })
	return gl.Addr().String(), "http://" + hl.Addr().String()
}
