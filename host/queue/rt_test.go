package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/queue"
)

// BenchmarkQueueRoundTrip measures the queue's unloaded latency: push one
// 1 KiB message, pop it back, b.N times; push-us and pop-us are each half.
//
//	go test ./host/queue -run '^$' -bench QueueRoundTrip -benchtime 5000x
func BenchmarkQueueRoundTrip(b *testing.B) {
	q := open(b, queue.Config{DirectGet: true})
	ctx := context.Background()
	warmQueue(b, q)
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	p := make([]byte, 1024)
	var push, pop time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := q.Push(ctx, k, queue.Message{Payload: p}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if m, err := q.Pop(ctx, k, time.Second); err != nil || m == nil {
			b.Fatal(err)
		}
		push += t1.Sub(t0)
		pop += time.Since(t1)
	}
	b.ReportMetric(float64(push.Microseconds())/float64(b.N), "push-us")
	b.ReportMetric(float64(pop.Microseconds())/float64(b.N), "pop-us")
}
