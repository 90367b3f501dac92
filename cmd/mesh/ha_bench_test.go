package main

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// BenchmarkHA pushes through replica r1 and pops through replica r2 of a
// three-replica node (embedded NATS cluster, gRPC, 4 pushers and 4
// poppers), with the queues kept by one server (R1) or by all three (R3).
//
//	go test ./cmd/mesh -run '^$' -bench HA -benchtime 5s
func BenchmarkHA(b *testing.B) {
	for _, r := range []int{1, 3} {
		b.Run(fmt.Sprintf("R%d", r), func(b *testing.B) {
			set := startReplicaSet(b, false, "--replicas", strconv.Itoa(r))
			for _, size := range []int{1 << 10, 1 << 20} {
				name := map[int]string{1 << 10: "1KiB", 1 << 20: "1MiB"}[size]
				b.Run(name, func(b *testing.B) { benchAcross(b, set.reps[0], set.reps[1], size) })
			}
		})
	}
}

func benchAcross(b *testing.B, in, out *replica, size int) {
	const workers = 4
	session := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	payload := make([]byte, size)
	push := client.NewGRPC(meshtest.Dial(b, in.listen), session)
	pop := client.NewGRPC(meshtest.Dial(b, out.listen), session)
	var next, popped atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if code, err := push.Push(b.Context(), "t", payload); err != nil || code != ptp.OK {
					b.Errorf("push: %s %v", code, err)
					return
				}
			}
		})
		wg.Go(func() {
			for popped.Load() < int64(b.N) {
				p, code, err := pop.Pop(b.Context(), "t", 200)
				if err != nil || code != ptp.OK {
					b.Errorf("pop: %s %v", code, err)
					return
				}
				if len(p) > 0 {
					popped.Add(1)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}

// BenchmarkHARecovery kills the replica whose server leads the queue stream
// with SIGKILL and measures how long until a push through one survivor is
// popped through the other; the victim is restarted between rounds.
//
//	go test ./cmd/mesh -run '^$' -bench HARecovery -benchtime 5x
func BenchmarkHARecovery(b *testing.B) {
	set := startReplicaSet(b, false)
	var total time.Duration
	for i := range b.N {
		leader := set.reps[0].cluster(b).QueueLeader
		var victim *replica
		var alive []*replica
		for _, r := range set.reps {
			if r.name == leader {
				victim = r
			} else {
				alive = append(alive, r)
			}
		}
		if victim == nil {
			b.Fatalf("no replica leads the queues (leader %q)", leader)
		}
		session := "recover-" + strconv.Itoa(i)
		push := &client.HTTP{URL: alive[0].url(), Session: session, Raw: true}
		pop := &client.HTTP{URL: alive[1].url(), Session: session, Raw: true}
		start := time.Now()
		victim.kill(b)
		for {
			if time.Since(start) > time.Minute {
				b.Fatal("no recovery within a minute")
			}
			if code, err := push.Push(b.Context(), "t", []byte("x")); err == nil && code == ptp.OK {
				if p, code, err := pop.Pop(b.Context(), "t", 5000); err == nil && code == ptp.OK && string(p) == "x" {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		total += took
		b.StopTimer()
		b.Logf("round %d: killed %s, push via %s popped via %s after %s", i, victim.name, alive[0].name, alive[1].name, took.Round(time.Millisecond))
		victim.start(b)
		victim.waitReady(b)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "recover-ms")
}
