package meshclient_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// benchWindow is the pushes in flight in the pipelined runs, and the batch
// PushMany sends at a time.
const (
	benchWindow = 16
	benchBatch  = 64
)

// BenchmarkSDK measures push→pop through the SDK against an in-process
// node, per transport, payload size and mode: "one" pushes then pops each
// message in turn; "pipelined" pushes with PushMany (benchWindow in flight)
// while a consumer pops concurrently. It reports msgs/s and MB/s
// (payload bytes). In-process figures flatter the node (client and node
// share the cores); compare them within one run, next to `mesh load`.
//
//	go test -run '^$' -bench BenchmarkSDK -benchtime 2000x ./sdk/client/go/
func BenchmarkSDK(b *testing.B) {
	n := meshtest.Start(b, host.Config{})
	runs := 0 // each run of a sub-benchmark opens its own session: the last run's Close released the one before
	for _, w := range wires {
		for _, size := range []int{1 << 10, 1 << 20} {
			for _, mode := range []string{"one", "pipelined"} {
				name := fmt.Sprintf("%s/%dKiB/%s", w.name, size>>10, mode)
				b.Run(name, func(b *testing.B) {
					runs++
					s := open(b, dial(b, n, w.opts...), fmt.Sprintf("bench-%d", runs), nil)
					payload := make([]byte, size)
					b.ReportAllocs()
					start := time.Now()
					if mode == "one" {
						benchOne(b, s, payload)
					} else {
						benchPipelined(b, s, payload)
					}
					secs := time.Since(start).Seconds()
					b.ReportMetric(float64(b.N)/secs, "msgs/s")
					b.ReportMetric(float64(b.N)*float64(size)/secs/1e6, "MB/s")
				})
			}
		}
	}
}

// benchOne pushes then pops each of b.N messages.
func benchOne(b *testing.B, s *meshclient.Session, payload []byte) {
	c := context.Background()
	for b.Loop() {
		if err := s.Push(c, "t", payload, nil); err != nil {
			b.Fatal(err)
		}
		if got, err := s.Pop(c, "t", callWait); err != nil || len(got) != len(payload) {
			b.Fatalf("pop: %d bytes, %v", len(got), err)
		}
	}
}

// benchPipelined pushes b.N messages in PushMany batches while a consumer
// pops them.
func benchPipelined(b *testing.B, s *meshclient.Session, payload []byte) {
	c := context.Background()
	popped := make(chan error, 1)
	go func() {
		for range b.N {
			got, err := s.Pop(c, "t", callWait)
			if err == nil && len(got) != len(payload) {
				err = fmt.Errorf("popped %d bytes of %d", len(got), len(payload))
			}
			if err != nil {
				popped <- err
				return
			}
		}
		popped <- nil
	}()
	batch := make([][]byte, benchBatch)
	for i := range batch {
		batch[i] = payload
	}
	for left := b.N; left > 0; left -= len(batch) {
		if err := s.PushMany(c, "t", batch[:min(left, len(batch))], benchWindow); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-popped; err != nil {
		b.Fatal(err)
	}
}
