package queue_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/internal/split"
	"github.com/ppcmesh/mesh/host/queue"
)

// BenchmarkQueue measures the queue alone, without gRPC or HTTP: conc
// producers push to their own topic while conc consumers pop; b.N
// messages in all. The store is opened and warmed before the timer starts.
//
//	go test ./host/queue -run '^$' -bench . -benchtime 10000x
func BenchmarkQueue(b *testing.B) {
	for _, c := range []struct{ size, conc int }{{1 << 10, 1}, {1 << 10, 4}, {1 << 10, 16}, {1 << 20, 2}} {
		b.Run(fmt.Sprintf("%dKiB/c%d", c.size>>10, c.conc), func(b *testing.B) {
			q := open(b, queue.Config{DirectGet: true})
			ctx := context.Background()
			warmQueue(b, q)
			payload := make([]byte, c.size)
			b.SetBytes(int64(c.size))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, per := range split.Even(b.N, c.conc) {
				k := queue.Key{Node: "n", Session: "bench", Topic: fmt.Sprint(i)}
				wg.Go(func() {
					for range per {
						if _, err := q.Push(ctx, k, queue.Message{Payload: payload}); err != nil {
							b.Error(err)
							return
						}
					}
				})
				wg.Go(func() {
					for range per {
						if m, err := q.Pop(ctx, k, 30*time.Second); err != nil || m == nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// warmQueue pushes and pops one message, so that the stream's first write
// and the connections' first requests fall before the timer.
func warmQueue(b *testing.B, q *queue.Queue) {
	k := queue.Key{Node: "n", Session: "warm", Topic: "t"}
	if _, err := q.Push(context.Background(), k, queue.Message{Payload: []byte("warm")}); err != nil {
		b.Fatal(err)
	}
	if m, err := q.Pop(context.Background(), k, 5*time.Second); err != nil || m == nil {
		b.Fatalf("warm-up pop: %v %v", m, err)
	}
}
