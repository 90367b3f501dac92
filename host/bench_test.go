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
				benchPushPop(b, transports[tr](n), c.size, c.conc)
			})
		}
	}
}

func benchPushPop(b *testing.B, c meshtest.Client, size, conc int) {
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
				if code, err := c.Push(topic, p); err != nil || code != ptp.OK {
					b.Errorf("push: %s %v", code, err)
					return
				}
			}
		})
		wg.Go(func() {
			lat[i] = make([]time.Duration, 0, per)
			for range per {
				got, code, err := c.Pop(topic, 30000)
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
