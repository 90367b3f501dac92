package host_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// BenchmarkServiceProxy: a registered service called through the node
// against the same upstream called directly, in one run: for each of HTTP
// and gRPC at 1 KiB and 1 MiB, b.N calls each way from 4 concurrent
// callers. It reports both rates, their ratio, and the latency the node
// adds at p50 and p99.
//
//	go test ./host -run '^$' -bench ServiceProxy -benchtime 2000x
func BenchmarkServiceProxy(b *testing.B) {
	n := meshtest.Start(b, host.Config{})
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read first: an HTTP/1 server stops reading the request once the
		// response has begun.
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	b.Cleanup(web.Close)
	rpc := meshtest.StartGRPCUpstream(b, "rpc")
	register(b, n, registration("bench-http", "i1", "/bench", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	register(b, n, registration("bench-grpc", "i1", "/bench.Echo/", "grpc", "grpc", rpc.Addr, 0, ""), ptp.OK)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	for _, size := range []int{1 << 10, 1 << 20} {
		payload := bytes.Repeat([]byte{'x'}, size)
		b.Run(fmt.Sprintf("http/%dKiB", size>>10), func(b *testing.B) {
			call := func(base string) func() error {
				return func() error {
					resp, err := hc.Post(base+"/bench", "application/octet-stream", bytes.NewReader(payload))
					if err != nil {
						return err
					}
					m, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || m != int64(size) {
						return fmt.Errorf("status %d, %d bytes", resp.StatusCode, m)
					}
					return nil
				}
			}
			compare(b, size, call(web.URL), call(n.URL))
		})
		b.Run(fmt.Sprintf("grpc/%dKiB", size>>10), func(b *testing.B) {
			call := func(addr string) func() error {
				cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
					grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(4<<20)))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { cc.Close() })
				return func() error {
					var out wrapperspb.BytesValue
					return cc.Invoke(context.Background(), "/bench.Echo/Say", wrapperspb.Bytes(payload), &out)
				}
			}
			compare(b, size, call(rpc.Addr), call(n.Addr))
		})
	}
}

// compare runs b.N calls of direct, then of viaNode, from 4 callers each,
// and reports the rates, the ratio and the added latency.
func compare(b *testing.B, size int, direct, viaNode func() error) {
	b.Helper()
	rate := func(call func() error) (float64, []time.Duration) {
		const workers = 4
		var (
			mu   sync.Mutex
			lat  []time.Duration
			wg   sync.WaitGroup
			errs = make(chan error, workers)
		)
		per := max(b.N/workers, 1)
		start := time.Now()
		for range workers {
			wg.Go(func() {
				mine := make([]time.Duration, 0, per)
				for range per {
					t0 := time.Now()
					if err := call(); err != nil {
						errs <- err
						return
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		slices.Sort(lat)
		return float64(len(lat)) / time.Since(start).Seconds(), lat
	}
	b.ResetTimer()
	dRate, dLat := rate(direct)
	nRate, nLat := rate(viaNode)
	b.StopTimer()
	pct := func(l []time.Duration, p int) float64 { return float64(l[len(l)*p/100].Microseconds()) / 1000 }
	b.ReportMetric(dRate, "direct-calls/s")
	b.ReportMetric(nRate, "node-calls/s")
	b.ReportMetric(nRate/dRate, "ratio")
	b.ReportMetric(nRate*float64(size)/1e6, "node-MB/s")
	b.ReportMetric(pct(nLat, 50)-pct(dLat, 50), "added-p50-ms")
	b.ReportMetric(pct(nLat, 99)-pct(dLat, 99), "added-p99-ms")
}
