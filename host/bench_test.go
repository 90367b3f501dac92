package host_test

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// BenchmarkPushPop measures push→pop on one node: conc producers each push
// to their own topic while conc consumers pop from them. It reports
// messages and MB per second and the push→pop latency percentiles.
//
//	go test ./host -run '^$' -bench PushPop -benchtime 5000x
func BenchmarkPushPop(b *testing.B) {
	transports := map[string]func(*meshtest.Node) meshtest.Client{
		"grpc": func(n *meshtest.Node) meshtest.Client {
			return meshtest.NewGRPCClient(meshtest.Dial(b, n.Addr), "bench")
		},
		"http": func(n *meshtest.Node) meshtest.Client {
			return &meshtest.HTTPClient{URL: n.URL, Session: "bench", Raw: true,
				Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
		},
	}
	for _, tr := range []string{"grpc", "http"} {
		for _, c := range []struct {
			size, conc int
		}{{1 << 10, 1}, {1 << 10, 4}, {1 << 20, 2}} {
			name := fmt.Sprintf("%s/%dKiB/c%d", tr, c.size>>10, c.conc)
			b.Run(name, func(b *testing.B) {
				n := meshtest.Start(b, host.Config{})
				cl := transports[tr](n)
				benchPushPop(b, cl, cl, c.size, c.conc)
			})
		}
	}
}

// benchPushPop pushes with push and pops with pop; the payload carries its
// push time, so the latencies are push→pop, end to end.
func benchPushPop(b *testing.B, push, pop meshtest.Client, size, conc int) {
	per := max(b.N/conc, 1)
	payload := make([]byte, size)
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := range conc {
		topic := fmt.Sprint("t", i)
		wg.Go(func() {
			p := slices.Clone(payload)
			for range per {
				binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
				if code, err := push.Push(topic, p); err != nil || code != ptp.OK {
					b.Errorf("push: %s %v", code, err)
					return
				}
			}
		})
		wg.Go(func() {
			lat[i] = make([]time.Duration, 0, per)
			for range per {
				got, code, err := pop.Pop(topic, 30000)
				if err != nil || code != ptp.OK || len(got) != size {
					b.Errorf("pop: %s %v (%d bytes)", code, err, len(got))
					return
				}
				lat[i] = append(lat[i], time.Duration(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(got))))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	msgs := float64(per*conc) / elapsed.Seconds()
	b.ReportMetric(msgs, "msgs/s")
	b.ReportMetric(msgs*float64(size)/1e6, "MB/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkRoundTrip measures unloaded latency: one client pushes a message
// and pops it back, one at a time. p50/p99 are of the push+pop pair.
//
//	go test ./host -run '^$' -bench RoundTrip -benchtime 3000x
func BenchmarkRoundTrip(b *testing.B) {
	for _, tr := range []string{"grpc", "http"} {
		b.Run(tr+"/1KiB", func(b *testing.B) {
			n := meshtest.Start(b, host.Config{})
			var c meshtest.Client = &meshtest.HTTPClient{URL: n.URL, Session: "rt", Raw: true}
			if tr == "grpc" {
				c = meshtest.NewGRPCClient(meshtest.Dial(b, n.Addr), "rt")
			}
			p := make([]byte, 1<<10)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if code, err := c.Push("t", p); err != nil || code != ptp.OK {
					b.Fatalf("push: %s %v", code, err)
				}
				if got, code, err := c.Pop("t", 5000); err != nil || code != ptp.OK || len(got) != len(p) {
					b.Fatalf("pop: %s %v", code, err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkEchoCeiling measures what the machine can do with no Mesh at
// all: a trivial gRPC and HTTP/1.1 echo on loopback, same payloads and
// concurrency as BenchmarkPushPop. A push→pop costs two calls, so half the
// echo call rate is the ceiling for one-message-per-call transfer.
//
//	go test ./host -run '^$' -bench EchoCeiling -benchtime 5000x
func BenchmarkEchoCeiling(b *testing.B) {
	grpcAddr, httpURL := meshtest.Echo(b)
	for _, c := range []struct{ size, conc int }{{1 << 10, 1}, {1 << 10, 4}, {1 << 20, 2}} {
		for _, tr := range []string{"grpc", "http"} {
			b.Run(fmt.Sprintf("%s/%dKiB/c%d", tr, c.size>>10, c.conc), func(b *testing.B) {
				var call func([]byte) error
				if tr == "grpc" {
					client := meshtest.NewGRPCClient(meshtest.Dial(b, grpcAddr), "echo")
					call = func(p []byte) error { _, err := client.Push("t", p); return err }
				} else {
					client := &meshtest.HTTPClient{URL: httpURL, Session: "echo", Raw: true,
						Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
					call = func(p []byte) error { _, err := client.Push("t", p); return err }
				}
				per := max(b.N/c.conc, 1)
				b.SetBytes(int64(c.size))
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for range 2 * c.conc { // as many callers as PushPop's producers and consumers
					wg.Go(func() {
						p := make([]byte, c.size)
						for range per {
							if err := call(p); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				calls := float64(2*c.conc*per) / time.Since(start).Seconds()
				b.ReportMetric(calls, "calls/s")
				b.ReportMetric(calls/2, "ceiling-msgs/s")
				b.ReportMetric(calls/2*float64(c.size)/1e6, "ceiling-MB/s")
			})
		}
	}
}
