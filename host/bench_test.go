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
	"github.com/ppcmesh/mesh/host/internal/split"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// BenchmarkPushPop measures push→pop throughput on one node: conc
// producers each push to their own topic while conc consumers pop from
// them; b.N messages in all. Producers run ahead of consumers, so the time
// a message spends queued says how deep the backlog grew, not how fast one
// message goes: it is reported as sojourn-p50/p99-ms. The latency of one
// message is BenchmarkRoundTrip's.
//
//	go test ./host -run '^$' -bench PushPop -benchtime 5000x
func BenchmarkPushPop(b *testing.B) {
	for _, tr := range []string{"grpc", "http"} {
		for _, c := range []struct {
			size, conc int
		}{{1 << 10, 1}, {1 << 10, 4}, {1 << 20, 2}} {
			name := fmt.Sprintf("%s/%dKiB/c%d", tr, c.size>>10, c.conc)
			b.Run(name, func(b *testing.B) {
				n := meshtest.Start(b, host.Config{})
				cl := benchClient(b, n, tr, "bench")
				warm(b, cl, 2*c.conc)
				benchPushPop(b, cl, cl, c.size, c.conc)
			})
		}
	}
}

// benchClient is a container client of n over transport tr ("grpc" or
// "http", raw bodies) that keeps enough connections for the benchmarks.
func benchClient(b *testing.B, n *meshtest.Node, tr, session string) meshtest.Client {
	if tr == "grpc" {
		return meshtest.NewGRPCClient(meshtest.Dial(b, n.Addr), session)
	}
	return &meshtest.HTTPClient{URL: n.URL, Session: session, Raw: true,
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// warm makes callers concurrent push+pop pairs through c before a
// benchmark's timer starts, so that connection setup (TCP, TLS, the port
// mux's wait for HTTP/2 settings) is not measured.
func warm(b *testing.B, c meshtest.Client, callers int) {
	b.Helper()
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			topic := fmt.Sprint("warm-", i)
			if code, err := c.Push(b.Context(), topic, []byte("warm")); err != nil || code != ptp.OK {
				b.Errorf("warm-up push: %s %v", code, err)
				return
			}
			if _, code, err := c.Pop(b.Context(), topic, 5000); err != nil || code != ptp.OK {
				b.Errorf("warm-up pop: %s %v", code, err)
			}
		})
	}
	wg.Wait()
}

// benchPushPop pushes b.N messages with push and pops them with pop, over
// conc topics; the payload carries its push time, so the sojourn times are
// push→pop, end to end, queueing included.
func benchPushPop(b *testing.B, push, pop meshtest.Client, size, conc int) {
	payload := make([]byte, size)
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i, per := range split.Even(b.N, conc) {
		topic := fmt.Sprint("t", i)
		wg.Go(func() {
			p := slices.Clone(payload)
			for range per {
				binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
				if code, err := push.Push(b.Context(), topic, p); err != nil || code != ptp.OK {
					b.Errorf("push: %s %v", code, err)
					return
				}
			}
		})
		wg.Go(func() {
			lat[i] = make([]time.Duration, 0, per)
			for range per {
				got, code, err := pop.Pop(b.Context(), topic, 30000)
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
	msgs := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(msgs, "msgs/s")
	b.ReportMetric(msgs*float64(size)/1e6, "MB/s")
	reportPercentiles(b, slices.Concat(lat...), "sojourn-")
}

// reportPercentiles reports the median and 99th percentile of lat, in ms.
func reportPercentiles(b *testing.B, lat []time.Duration, prefix string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, prefix+"p99-ms")
}

// BenchmarkRoundTrip measures latency with one message in flight per
// worker: each of conc workers pushes a message to its own topic and pops
// it back before the next; b.N pairs in all. c1 is the unloaded latency.
// p50/p99 are of the push+pop pair.
//
//	go test ./host -run '^$' -bench RoundTrip -benchtime 3000x
func BenchmarkRoundTrip(b *testing.B) {
	for _, tr := range []string{"grpc", "http"} {
		for _, conc := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/1KiB/c%d", tr, conc), func(b *testing.B) {
				n := meshtest.Start(b, host.Config{})
				c := benchClient(b, n, tr, "rt")
				warm(b, c, conc)
				lat := make([][]time.Duration, conc)
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				for i, per := range split.Even(b.N, conc) {
					wg.Go(func() { lat[i] = roundTrips(b, c, fmt.Sprint("t", i), per) })
				}
				wg.Wait()
				b.StopTimer()
				reportPercentiles(b, slices.Concat(lat...), "")
			})
		}
	}
}

// roundTrips pushes n 1 KiB messages to topic one at a time, popping each
// back, and returns the time of each pair.
func roundTrips(b *testing.B, c meshtest.Client, topic string, n int) []time.Duration {
	p := make([]byte, 1<<10)
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if code, err := c.Push(b.Context(), topic, p); err != nil || code != ptp.OK {
			b.Errorf("push: %s %v", code, err)
			return lat
		}
		if got, code, err := c.Pop(b.Context(), topic, 5000); err != nil || code != ptp.OK || len(got) != len(p) {
			b.Errorf("pop: %s %v", code, err)
			return lat
		}
		lat = append(lat, time.Since(t0))
	}
	return lat
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
					call = func(p []byte) error { _, err := client.Push(b.Context(), "t", p); return err }
				} else {
					client := &meshtest.HTTPClient{URL: httpURL, Session: "echo", Raw: true,
						Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
					call = func(p []byte) error { _, err := client.Push(b.Context(), "t", p); return err }
				}
				callers := 2 * c.conc // as many as PushPop's producers and consumers
				warmCalls(b, call, callers)
				b.SetBytes(int64(c.size))
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for _, per := range split.Even(2*b.N, callers) { // a push→pop is two calls
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
				calls := float64(2*b.N) / time.Since(start).Seconds()
				b.ReportMetric(calls, "calls/s")
				b.ReportMetric(calls/2, "ceiling-msgs/s")
				b.ReportMetric(calls/2*float64(c.size)/1e6, "ceiling-MB/s")
			})
		}
	}
}

// warmCalls makes callers concurrent calls before the timer starts, so that
// connection setup is not measured.
func warmCalls(b *testing.B, call func([]byte) error, callers int) {
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if err := call([]byte("warm")); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}
