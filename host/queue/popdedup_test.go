package queue

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/cluster"
)

// waitFor polls cond until it holds or d passes (meshtest.WaitFor, which
// this package's internal tests cannot import).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
	}
}

// replicas opens two queues on one NATS server, each with its own
// connection and origin, as two replicas of a node would.
func replicas(t *testing.T) (a, b *Queue) {
	t.Helper()
	ctx := context.Background()
	n, err := cluster.Start(ctx, cluster.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	a = openAs(t, n.Conn, n.JS, "ra")
	nc, err := nats.Connect("", nats.InProcessServer(n.Server))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return a, openAs(t, nc, js, "rb")
}

func openAs(t *testing.T, nc *nats.Conn, js jetstream.JetStream, origin string) *Queue {
	t.Helper()
	q, err := Open(context.Background(), nc, js, Config{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

// loseFirstReply makes q's first delete answer lost after the server acted
// on it, as when the stream leader dies between applying and answering.
func loseFirstReply(q *Queue, before func(seq uint64)) *atomic.Int32 {
	var n atomic.Int32
	q.hooks = &faults{
		deleting: func(seq uint64) {
			if n.Load() == 0 && before != nil {
				before(seq)
			}
		},
		deleted: func(uint64) error {
			if n.Add(1) == 1 {
				return nats.ErrTimeout
			}
			return nil
		},
	}
	return &n
}

func pushAll(t *testing.T, q *Queue, k Key, payloads ...string) {
	t.Helper()
	for _, p := range payloads {
		if _, err := q.Push(context.Background(), k, Message{Payload: []byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
}

func popNow(t *testing.T, q *Queue, k Key) string {
	t.Helper()
	m, err := q.Pop(context.Background(), k, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		return ""
	}
	return string(m.Payload)
}

// forget drops what p recorded, as a replica that missed the freed events.
func (p *popped) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.cur)
	clear(p.old)
}

// A delete applied whose answer was lost, with no other pop: the retry
// answers gone, and the message is still this pop's (not lost).
func TestPopLostDeleteReplyAlone(t *testing.T) {
	a, _ := replicas(t)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	pushAll(t, a, k, "m1")
	n := loseFirstReply(a, nil)
	if got := popNow(t, a, k); got != "m1" {
		t.Fatalf("pop whose delete answer was lost got %q, want m1", got)
	}
	if n.Load() < 2 {
		t.Fatalf("the delete was not retried (%d attempts)", n.Load())
	}
	if got := popNow(t, a, k); got != "" {
		t.Fatalf("queue still holds %q", got)
	}
}

// Pop A reads m1; pop B (another replica) pops m1 and is told so; A's
// delete then finds nothing, and its answer is lost. A's retry answers gone.
// A must not hand m1 out again: it moves on to m2.
func TestPopLostReplyCompetitorTold(t *testing.T) {
	for _, missed := range []bool{false, true} {
		name := map[bool]string{false: "freed event seen", true: "freed event missed"}[missed]
		t.Run(name, func(t *testing.T) {
			a, b := replicas(t)
			k := Key{Node: "n", Session: "s", Topic: "t"}
			pushAll(t, a, k, "m1", "m2")
			var byB string
			loseFirstReply(a, func(seq uint64) {
				byB = popNow(t, b, k)
				waitFor(t, 10*time.Second, "A to see B's freed event", func() bool { return a.popped.has(seq) })
				if missed {
					a.popped.forget()
				}
			})
			var asked, answered atomic.Int32
			a.hooks.asked = func(_ uint64, yes bool) {
				asked.Add(1)
				if yes {
					answered.Add(1)
				}
			}
			byA := popNow(t, a, k)
			if byB != "m1" || byA != "m2" {
				t.Fatalf("B popped %q, A popped %q; want m1 and m2, each once", byB, byA)
			}
			if missed && answered.Load() != 1 {
				t.Fatalf("A asked %d times, answered yes %d times; want B to answer", asked.Load(), answered.Load())
			}
			if !missed && asked.Load() != 0 {
				t.Fatalf("A asked the others %d times though it had B's event", asked.Load())
			}
		})
	}
}

// Both pops lose their delete answers: B's delete of m1 was applied, A's
// found nothing. Exactly one of them hands m1 out.
func TestPopLostRepliesBothDoubtful(t *testing.T) {
	a, b := replicas(t)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	pushAll(t, a, k, "m1", "m2")
	var byB string
	loseFirstReply(a, func(uint64) {
		loseFirstReply(b, nil)
		byB = popNow(t, b, k)
		a.popped.forget()
		b.popped.forget() // neither the event nor the question helps: the claim decides
	})
	byA := popNow(t, a, k)
	if byB == byA || byB == "" || byA == "" {
		t.Fatalf("B popped %q, A popped %q; want m1 and m2, each once", byB, byA)
	}
}

// A claim is a conditional create: the first claimant wins, a second one
// is refused, and a claimant whose create was applied but unanswered reads
// back its own claim on retry.
func TestPopClaim(t *testing.T) {
	a, b := replicas(t)
	ctx := context.Background()
	if err := a.claimAs(ctx, 7, "ra/1"); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := a.claimAs(ctx, 7, "ra/1"); err != nil {
		t.Fatalf("retried claim of the winner: %v", err)
	}
	if err := b.claimAs(ctx, 7, "rb/1"); err != errGone {
		t.Fatalf("second claimant: %v, want errGone", err)
	}
	if err := b.claim(ctx, 8); err != nil {
		t.Fatalf("claim of another message: %v", err)
	}
}

// B is told its delete of m1 succeeded just before A's retry is told gone,
// and B's freed event reaches A only while A waits for answers to its
// question (B, not yet done recording, stays silent). A must still step
// back rather than claim m1.
func TestPopLostReplyCompetitorLate(t *testing.T) {
	a, b := replicas(t)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	pushAll(t, a, k, "m1", "m2")
	var byB string
	done := make(chan struct{})
	loseFirstReply(a, func(seq uint64) {
		byB = popNow(t, b, k)
		waitFor(t, 10*time.Second, "A to see B's freed event", func() bool { return a.popped.has(seq) })
		a.popped.forget()
		b.popped.forget()
		go func() { // the event, late: during A's wait for answers
			defer close(done)
			time.Sleep(askFor / 4)
			a.popped.add(seq)
		}()
	})
	byA := popNow(t, a, k)
	<-done
	if byB != "m1" || byA != "m2" {
		t.Fatalf("B popped %q, A popped %q; want m1 and m2, each once", byB, byA)
	}
}

// A doubtful pop that cannot settle (the claim bucket is gone, as when it
// fails over in the same instant) hands the message out rather than lose
// it: the delete has been applied, so an error would drop an acknowledged
// message.
func TestPopLostReplyUnsettledIsHandedOut(t *testing.T) {
	a, _ := replicas(t)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	pushAll(t, a, k, "m1")
	if err := a.js.DeleteKeyValue(context.Background(), claimBucket); err != nil {
		t.Fatal(err)
	}
	loseFirstReply(a, nil)
	start := time.Now()
	if got := popNow(t, a, k); got != "m1" {
		t.Fatalf("an unsettled doubtful pop got %q, want m1", got)
	}
	t.Logf("settled in %s", time.Since(start))
}

// TestPopThatEndedBeforeTheDeleteTakesNothing: a pop whose ctx ended
// between reading the head and deleting it (its caller left, or the node's
// drain cut it) takes nothing: the message stays for the next pop. Once the
// delete has begun it completes (take runs it without ctx's cancel).
func TestPopThatEndedBeforeTheDeleteTakesNothing(t *testing.T) {
	a, _ := replicas(t)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	ctx := context.Background()
	if _, err := a.Push(ctx, k, Message{Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	var broken uint64
	h, err := a.readHead(ctx, k, "", &broken)
	if err != nil || h == nil {
		t.Fatalf("read head: %v %v", h, err)
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.take(gone, k, h); !errors.Is(err, context.Canceled) {
		t.Fatalf("take with an ended ctx: %v, want context.Canceled", err)
	}
	m, err := a.Pop(ctx, k, time.Second)
	if err != nil || m == nil || string(m.Payload) != "kept" {
		t.Fatalf("the next pop: %v %v, want the message", m, err)
	}
}
