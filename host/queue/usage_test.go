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
