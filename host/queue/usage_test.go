package queue

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestReserveAtTheCap: a session may hold exactly its cap, not a byte more.
func TestReserveAtTheCap(t *testing.T) {
	u := newUsage(1000)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	done, cancel := context.WithCancel(context.Background())
	cancel() // never wait: answer at once
	for _, step := range []struct {
		n    int64
		want bool
	}{{600, true}, {400, true}, {1, false}} {
		if got := u.reserve(done, k, step.n); got != step.want {
			t.Fatalf("reserve %d with %d of 1000 held: %v, want %v", step.n, u.held(k.nodeSession()), got, step.want)
		}
	}
	if got := u.held(k.nodeSession()); got != 1000 {
		t.Fatalf("held %d, want 1000", got)
	}
}

// TestReserveWakesWhenRoomIsFreed: a push waiting for room goes on as soon
// as any of the ways of freeing bytes frees them, without waiting for its
// deadline. synctest makes "waiting" observable: Wait returns once the
// reserving goroutine is blocked.
func TestReserveWakesWhenRoomIsFreed(t *testing.T) {
	k := Key{Node: "n", Session: "s", Topic: "t"}
	for name, free := range map[string]func(u *usage){
		"free":        func(u *usage) { u.free(k.queueName(), 800) },
		"dropQueue":   func(u *usage) { u.dropQueue(k.queueName()) },
		"dropSession": func(u *usage) { u.dropSession(k.nodeSession()) },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				u := newUsage(1000)
				if !u.reserve(context.Background(), k, 800) {
					t.Fatal("first reserve refused")
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				got := make(chan bool, 1)
				go func() { got <- u.reserve(ctx, k, 300) }()
				synctest.Wait()
				if len(got) != 0 {
					t.Fatalf("reserve over the cap did not wait: %v", <-got)
				}
				free(u)
				synctest.Wait()
				select {
				case ok := <-got:
					if !ok {
						t.Fatal("reserve refused after room was freed")
					}
				default:
					t.Fatal("a reserve waiting for room was not woken when room was freed")
				}
			})
		})
	}
}

// TestZeroByteMessagesAreHeld: a session holding only zero-byte messages
// is a session holding messages, and each of them is counted, on the
// replica that stored or popped them and, through their events, on every
// other (the held gauges, /stats).
func TestZeroByteMessagesAreHeld(t *testing.T) {
	u := newUsage(1000)
	k := Key{Node: "n", Session: "s", Topic: "t"}
	u.add(k.queueName(), 0)
	u.add(k.queueName(), 0)
	u.free(k.queueName(), 0)
	if s, msgs, bytes := u.totals(); s != 1 || msgs != 1 || bytes != 0 {
		t.Fatalf("one zero-byte message left: %d sessions, %d messages, %d bytes; want 1, 1, 0", s, msgs, bytes)
	}
	u.free(k.queueName(), 0)
	if s, msgs, _ := u.totals(); s != 0 || msgs != 0 {
		t.Fatalf("all popped: %d sessions, %d messages; want 0, 0", s, msgs)
	}

	a, b := replicas(t)
	ctx := context.Background()
	for range 3 {
		if _, err := a.Push(ctx, k, Message{}); err != nil {
			t.Fatal(err)
		}
	}
	held := func(q *Queue, sessions, msgs int64) func() bool {
		return func() bool {
			st := q.Stats()
			return st.Sessions == sessions && st.HeldMessages == msgs && st.HeldBytes == 0
		}
	}
	if !held(a, 1, 3)() {
		t.Fatalf("the replica that stored 3 zero-byte messages: %+v", a.Stats())
	}
	waitFor(t, 10*time.Second, "the other replica to count the 3 zero-byte messages", held(b, 1, 3))
	m, err := b.Pop(ctx, k, time.Second)
	if err != nil || m == nil {
		t.Fatalf("pop on the other replica: %v %v", m, err)
	}
	if !held(b, 1, 2)() {
		t.Fatalf("the replica that popped one: %+v", b.Stats())
	}
	waitFor(t, 10*time.Second, "the storing replica to count the pop", held(a, 1, 2))
	for range 2 {
		if m, err := a.Pop(ctx, k, time.Second); err != nil || m == nil {
			t.Fatalf("pop: %v %v", m, err)
		}
	}
	if !held(a, 0, 0)() {
		t.Fatalf("all popped, on the replica that popped them: %+v", a.Stats())
	}
	waitFor(t, 10*time.Second, "the other replica to count the pops", held(b, 0, 0))
}
