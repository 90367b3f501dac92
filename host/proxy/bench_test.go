package proxy_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/ppcmesh/mesh/host/registry"
)

// BenchmarkProxy measures calls through the proxy against the same
// upstream called directly, in one run, and reports proxied throughput as
// a fraction of direct ("proxy/direct"), with each side's time per call.
func BenchmarkProxy(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run("http_"+sizeName(size), func(b *testing.B) { benchHTTP(b, size) })
	}
	b.Run("grpc_unary_1KiB", benchGRPC)
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return "1MiB"
	}
	return "1KiB"
}

// compare runs op b.N times directly and b.N times proxied.
func compare(b *testing.B, bytesPerOp int, direct, proxied func() error) {
	b.ReportAllocs()
	b.SetBytes(int64(bytesPerOp))
	b.ResetTimer()
	d := timeOps(b, direct)
	p := timeOps(b, proxied)
	b.ReportMetric(float64(d)/float64(p), "proxy/direct")
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "direct-ns/op")
	b.ReportMetric(float64(p.Nanoseconds())/float64(b.N), "proxied-ns/op")
}

func timeOps(b *testing.B, op func() error) time.Duration {
	start := time.Now()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

func benchHTTP(b *testing.B, size int) {
	up := newBackend(b, "up", func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		io.Copy(w, r.Body)
	})
	tbl := newTable(route(registry.ProtoHTTP, "/echo", up.addr))
	url := front(b, newProxy(b, tbl), tbl)
	body := randomBytes(size)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(hc.CloseIdleConnections)
	post := func(base string) func() error {
		return func() error {
			res, err := hc.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				return err
			}
			defer res.Body.Close()
			_, err = io.Copy(io.Discard, res.Body)
			return err
		}
	}
	compare(b, 2*size, post("http://"+up.addr), post(url))
}

func benchGRPC(b *testing.B) {
	addr := upstreamGRPC(b, "up")
	rt := route(registry.ProtoGRPC, "/grpc.testing.TestService/", addr)
	rt.Prefix = true
	tbl := newTable(rt)
	proxied := testgrpc.NewTestServiceClient(frontGRPC(b, newProxy(b, tbl), tbl))
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	direct := testgrpc.NewTestServiceClient(cc)
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: randomBytes(1 << 10)}}
	call := func(c testgrpc.TestServiceClient) func() error {
		return func() error { _, err := c.UnaryCall(context.Background(), req); return err }
	}
	compare(b, 2<<10, call(direct), call(proxied))
}
