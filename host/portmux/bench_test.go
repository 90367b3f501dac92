package portmux

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ppcmesh/mesh/host/ptp"
)

type echo struct {
	ptp.UnimplementedPrivateTransferTransportServer
}

func (echo) Push(_ context.Context, in *ptp.PushInbound) (*ptp.TransportOutbound, error) {
	return &ptp.TransportOutbound{Code: string(ptp.OK)}, nil
}

// BenchmarkGRPCServing compares the ways of serving gRPC beside HTTP on one
// port: grpc-go's own transport behind this mux, the same without the mux,
// and grpc.Server.ServeHTTP under net/http's h2c server.
//
//	go test ./host/portmux -run '^$' -bench GRPCServing -benchtime 20000x
func BenchmarkGRPCServing(b *testing.B) {
	for _, mode := range []string{"native", "native-via-mux", "servehttp-h2c"} {
		for _, size := range []int{1 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode, size>>10), func(b *testing.B) {
				addr := serveEcho(b, mode)
				cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
					grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
				if err != nil {
					b.Fatal(err)
				}
				defer cc.Close()
				c := ptp.NewPrivateTransferTransportClient(cc)
				const conc = 8
				per := max(b.N/conc, 1)
				b.SetBytes(int64(size))
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						p := make([]byte, size)
						for range per {
							if _, err := c.Push(context.Background(), &ptp.PushInbound{Payload: p}); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(per*conc)/time.Since(start).Seconds(), "calls/s")
			})
		}
	}
}

func serveEcho(b *testing.B, mode string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
	ptp.RegisterPrivateTransferTransportServer(gs, echo{})
	b.Cleanup(gs.Stop)
	switch mode {
	case "native":
		go func() { _ = gs.Serve(ln) }()
	case "native-via-mux":
		m := New(ln)
		go func() { _ = m.Serve() }()
		go func() { _ = gs.Serve(m.GRPC()) }()
		b.Cleanup(func() { _ = m.Close() })
	case "servehttp-h2c":
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		hs := &http.Server{Handler: gs, Protocols: p}
		go func() { _ = hs.Serve(ln) }()
		b.Cleanup(func() { _ = hs.Close() })
	}
	return ln.Addr().String()
}

// BenchmarkH2CGRPCPaths measures the two ways a plaintext HTTP/2
// connection's gRPC is served behind the mux, with one client (Go's
// http2.Transport, hand-framed unary push, 8 callers on one connection)
// whose user-agent alone picks the path: "grpc-go/…" goes to grpc-go's
// native transport, any other to the HTTP server, where Mixed hands gRPC
// to grpc.Server.ServeHTTP.
//
//	go test ./host/portmux -run '^$' -bench H2CGRPCPaths -benchtime 20000x
func BenchmarkH2CGRPCPaths(b *testing.B) {
	for _, mode := range []struct{ name, agent string }{{"native", "grpc-go/1.85.0"}, {"mixed", "Go-http-client/2.0"}} {
		for _, size := range []int{1 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%s/%dKiB", mode.name, size>>10), func(b *testing.B) {
				addr, m := serveMixedWith(b, nil, echo{})
				hc := &http.Client{Transport: h2cTransport()}
				url := "http://" + addr
				grpcPushCode(b, hc, url, mode.agent, nil) // open the one connection
				const conc = 8
				per := max(b.N/conc, 1)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						p := make([]byte, size)
						for range per {
							grpcPushCode(b, hc, url, mode.agent, p)
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(per*conc)/time.Since(start).Seconds(), "calls/s")
				if r := m.Routes(); (r.Native == 1) != (mode.name == "native") || r.Native+r.H2 != 1 {
					b.Fatalf("routes %+v for %s", r, mode.name)
				}
			})
		}
	}
}

// grpcPushCode is grpcPush for echo, which answers with a code only.
func grpcPushCode(b *testing.B, hc *http.Client, url, agent string, p []byte) {
	if out := grpcPush(b, hc, url, agent, p); out.Code != string(ptp.OK) {
		b.Errorf("push: %s", out.Code)
	}
}
