package queue_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"time"

	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

func open(t testing.TB, cfg queue.Config) *queue.Queue {
	t.Helper()
	ctx := context.Background()
	n, err := cluster.Start(ctx, cluster.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	cfg.Pool = n.Pool
	q, err := queue.Open(ctx, n.Conn, n.JS, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

func code(err error) ptp.Code { c, _ := ptp.Describe(err); return c }

func TestFIFOAndIsolation(t *testing.T) {
	q := open(t, queue.Config{})
	ctx := context.Background()
	a := queue.Key{Node: "n", Session: "s.1", Topic: "t*x"}
	b := queue.Key{Node: "n", Session: "s.1", Topic: "other"}
	c := queue.Key{Node: "n", Session: "s.2", Topic: "t*x"}
	for i := range 50 {
		for _, k := range []queue.Key{a, b, c} {
			if _, err := q.Push(ctx, k, queue.Message{Payload: fmt.Appendf(nil, "%s-%d", k.Session+k.Topic, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, k := range []queue.Key{c, a, b} {
		for i := range 50 {
			m, err := q.Pop(ctx, k, time.Second)
			if err != nil || m == nil {
				t.Fatalf("pop %v #%d: %v %v", k, i, m, err)
			}
			if want := fmt.Sprintf("%s-%d", k.Session+k.Topic, i); string(m.Payload) != want {
				t.Fatalf("got %q want %q", m.Payload, want)
			}
		}
	}
	m, err := q.Pop(ctx, a, 10*time.Millisecond)
	if m != nil || err != nil {
		t.Fatalf("empty pop: %v %v", m, err)
	}
}

func TestChunkedPeekPop(t *testing.T) {
	q := open(t, queue.Config{ChunkSize: 64 << 10})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "big"}
	p := make([]byte, 1<<20+17)
	for i := range p {
		p[i] = byte(i * 7)
	}
	id, err := q.Push(ctx, k, queue.Message{Payload: p, Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := q.Peek(ctx, k)
	if err != nil || m == nil || !bytes.Equal(m.Payload, p) || m.ID != id {
		t.Fatalf("peek: %v", err)
	}
	m, err = q.Pop(ctx, k, time.Second)
	if err != nil || m == nil || !bytes.Equal(m.Payload, p) || m.Metadata["k"] != "v" {
		t.Fatalf("pop: %v", err)
	}
	if m, _ := q.Peek(ctx, k); m != nil {
		t.Fatal("queue not empty after pop")
	}
}

func TestBlockingPopWakes(t *testing.T) {
	q := open(t, queue.Config{})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	got := make(chan *queue.Message)
	go func() {
		m, _ := q.Pop(ctx, k, time.Minute)
		got <- m
	}()
	waitFor(t, "the pop to block", func() bool { return q.Stats().Waiting == 1 })
	if _, err := q.Push(ctx, k, queue.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m == nil || string(m.Payload) != "x" {
		t.Fatalf("got %v", m)
	}
}

func TestReleaseSession(t *testing.T) {
	q := open(t, queue.Config{})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	blocked := make(chan error)
	go func() {
		_, err := q.Pop(ctx, queue.Key{Node: "n", Session: "s", Topic: "waiting"}, time.Minute)
		blocked <- err
	}()
	waitFor(t, "the pop to block", func() bool { return q.Stats().Waiting == 1 })
	if _, err := q.Push(ctx, k, queue.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(ctx, queue.Key{Node: "n", Session: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; code(err) != ptp.SessionReleased {
		t.Fatalf("blocked pop: %v", err)
	}
	if _, err := q.Push(ctx, k, queue.Message{Payload: []byte("y")}); code(err) != ptp.SessionReleased {
		t.Fatalf("push after release: %v", err)
	}
	if _, err := q.Pop(ctx, k, time.Millisecond); code(err) != ptp.SessionReleased {
		t.Fatalf("pop after release: %v", err)
	}
}

func TestSessionCap(t *testing.T) {
	q := open(t, queue.Config{SessionMaxBytes: 1000, FullWait: 50 * time.Millisecond})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 1001)}); code(err) != ptp.TooLarge {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 800)}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 300)}); code(err) != ptp.BufferFull {
		t.Fatalf("over cap: %v", err)
	}
	// Another session is not affected.
	if _, err := q.Push(ctx, queue.Key{Node: "n", Session: "s2", Topic: "t"}, queue.Message{Payload: make([]byte, 800)}); err != nil {
		t.Fatal(err)
	}
}

// TestSessionCapBoundary: a session may hold exactly its cap, and one
// message may be exactly the cap; one byte more is refused.
func TestSessionCapBoundary(t *testing.T) {
	q := open(t, queue.Config{SessionMaxBytes: 1000, FullWait: 50 * time.Millisecond})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	for _, step := range []struct {
		size int
		want ptp.Code
	}{{1001, ptp.TooLarge}, {1000, ptp.OK}, {1, ptp.BufferFull}} {
		if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, step.size)}); code(err) != step.want {
			t.Fatalf("push of %d bytes to an empty session capped at 1000: %v, want %s", step.size, err, step.want)
		}
	}
	if m, err := q.Pop(ctx, k, time.Second); err != nil || m == nil || len(m.Payload) != 1000 {
		t.Fatalf("pop: %v %v", m, err)
	}
	for _, step := range []struct {
		size int
		want ptp.Code
	}{{600, ptp.OK}, {400, ptp.OK}, {1, ptp.BufferFull}} {
		if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, step.size)}); code(err) != step.want {
			t.Fatalf("push of %d bytes: %v, want %s", step.size, err, step.want)
		}
	}
}

// TestWaitingPushGoesThroughWhenRoomIsFreed: a push over the cap waits
// (FullWait is long here), and a pop that frees room lets it through well
// before its deadline. (TestReserveWakesWhenRoomIsFreed proves the wake-up
// deterministically; this shows it end to end.)
func TestWaitingPushGoesThroughWhenRoomIsFreed(t *testing.T) {
	q := open(t, queue.Config{SessionMaxBytes: 1000, FullWait: 30 * time.Second})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	if _, err := q.Push(ctx, k, queue.Message{Payload: []byte(strings.Repeat("a", 800))}); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := q.Push(ctx, k, queue.Message{Payload: []byte(strings.Repeat("b", 300))})
		waiting <- err
	}()
	if m, err := q.Pop(ctx, k, time.Second); err != nil || m == nil || m.Payload[0] != 'a' {
		t.Fatalf("pop: %v %v", m, err)
	}
	if err := <-waiting; err != nil {
		t.Fatalf("the push waiting for room: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("the waiting push took %v: not woken by the pop", d)
	}
	if m, err := q.Pop(ctx, k, time.Second); err != nil || m == nil || len(m.Payload) != 300 || m.Payload[0] != 'b' {
		t.Fatalf("the waited push was not stored: %v %v", m, err)
	}
}

func TestConcurrentPopsNeverShare(t *testing.T) {
	q := open(t, queue.Config{})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	const n = 300
	for i := range n {
		if _, err := q.Push(ctx, k, queue.Message{Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				m, err := q.Pop(ctx, k, 20*time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				if m == nil {
					return
				}
				mu.Lock()
				seen[string(m.Payload)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("popped %d distinct of %d", len(seen), n)
	}
	for p, c := range seen {
		if c != 1 {
			t.Fatalf("%s popped %d times", p, c)
		}
	}
}

// TestCapsHoldAcrossRestart checks that a session's stored bytes count
// against its cap after a restart, and that a pop frees room again. Only the
// push that must be refused waits briefly for room (FullWait bounds the store
// too, so a short one would fail good pushes on a slow machine): it goes
// through a second queue opened on the same restarted server.
func TestCapsHoldAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	long := queue.Config{SessionMaxBytes: 1000, FullWait: 30 * time.Second}
	short := long
	short.FullWait = 20 * time.Millisecond
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	var n *cluster.NATS
	start := func() (*queue.Queue, func()) {
		var err error
		if n, err = cluster.Start(ctx, cluster.Config{StoreDir: dir}); err != nil {
			t.Fatal(err)
		}
		q, err := queue.Open(ctx, n.Conn, n.JS, long)
		if err != nil {
			t.Fatal(err)
		}
		return q, func() { q.Close(); n.Close() }
	}
	q, stop := start()
	for range 3 {
		if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 300)}); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	q, stop = start()
	defer stop()
	impatient, err := queue.Open(ctx, n.Conn, n.JS, short)
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	if _, err := impatient.Push(ctx, k, queue.Message{Payload: make([]byte, 300)}); code(err) != ptp.BufferFull {
		t.Fatalf("the session's 900 stored bytes were forgotten on restart: %v", err)
	}
	if _, err := q.Pop(ctx, k, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 300)}); err != nil {
		t.Fatalf("room freed by a pop after restart: %v", err)
	}
}

func TestGlobalCap(t *testing.T) {
	q := open(t, queue.Config{MaxBytes: 256 << 10, FullWait: 50 * time.Millisecond})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = q.Push(ctx, k, queue.Message{Payload: make([]byte, 16<<10)})
	}
	if code(err) != ptp.BufferFull {
		t.Fatalf("want %s once the node's cap is reached, got %v", ptp.BufferFull, err)
	}
	if _, err := q.Pop(ctx, k, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 1<<10)}); err != nil {
		t.Fatalf("push after a pop freed room: %v", err)
	}
}

func TestMessagesExpire(t *testing.T) {
	q := open(t, queue.Config{MessageTTL: time.Second})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "idle", Topic: "t"}
	if _, err := q.Push(ctx, k, queue.Message{Payload: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := q.Peek(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("message did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReleaseGraceEnds(t *testing.T) {
	q := open(t, queue.Config{ReleaseGrace: 300 * time.Millisecond})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	if err := q.Release(ctx, queue.Key{Node: "n", Session: "s"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := q.Push(ctx, k, queue.Message{Payload: []byte("again")})
		if err == nil {
			return
		}
		if code(err) != ptp.SessionReleased || time.Now().After(deadline) {
			t.Fatalf("session id not reusable after the grace period: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRetriedPushIsStoredOnce(t *testing.T) {
	q := open(t, queue.Config{ChunkSize: 64 << 10})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	for _, p := range [][]byte{[]byte("small"), make([]byte, 200<<10)} {
		for range 3 {
			if id, err := q.Push(ctx, k, queue.Message{ID: "retry-1-" + fmt.Sprint(len(p)), Payload: p}); err != nil || id != "retry-1-"+fmt.Sprint(len(p)) {
				t.Fatalf("push: %q %v", id, err)
			}
		}
		if m, err := q.Pop(ctx, k, time.Second); err != nil || m == nil || len(m.Payload) != len(p) {
			t.Fatalf("pop: %v %v", m, err)
		}
		if m, _ := q.Pop(ctx, k, 10*time.Millisecond); m != nil {
			t.Fatalf("a retried push was stored twice")
		}
	}
}

// TestDamagedMessageIsDroppedNotStuck removes a chunk of a stored message
// behind the queue's back: the pop reports the damage, and the queue moves on.
func TestDamagedMessageIsDroppedNotStuck(t *testing.T) {
	ctx := context.Background()
	n, err := cluster.Start(ctx, cluster.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	q, err := queue.Open(ctx, n.Conn, n.JS, queue.Config{ChunkSize: 64 << 10, DirectGet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	k := queue.Key{Node: "n", Session: "s", Topic: "t"}
	id, err := q.Push(ctx, k, queue.Message{Payload: make([]byte, 200<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(ctx, k, queue.Message{Payload: []byte("next")}); err != nil {
		t.Fatal(err)
	}
	stream, _ := n.JS.Stream(ctx, "PTP")
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject("ptp.c.n.s.t."+id+".2")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Pop(ctx, k, time.Second); code(err) != ptp.SystemError || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("pop of a damaged message: %v", err)
	}
	if m, err := q.Pop(ctx, k, time.Second); err != nil || m == nil || string(m.Payload) != "next" {
		t.Fatalf("queue stuck behind a damaged message: %v %v", m, err)
	}
}

// waitFor polls cond until it holds, for at most 10 s (meshtest.WaitFor's
// twin: importing meshtest here would pull the whole host into this
// package's test binary).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
