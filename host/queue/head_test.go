package queue_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// TestHeadOperations runs each operation on the head of a queue holding a
// then b: peek reads the head and leaves it, pop and a remove of the head's
// id take it, and a remove of any other id takes nothing.
func TestHeadOperations(t *testing.T) {
	q := open(t, queue.Config{})
	ctx := context.Background()
	cases := []struct {
		name   string
		op     func(k queue.Key, a, b string) (*queue.Message, error)
		got    string   // payload the operation returns
		left   []string // payloads still queued after it
		popped int64    // messages it took
	}{
		{"peek", func(k queue.Key, _, _ string) (*queue.Message, error) { return q.Peek(ctx, k) }, "a", []string{"a", "b"}, 0},
		{"pop", func(k queue.Key, _, _ string) (*queue.Message, error) { return q.Pop(ctx, k, time.Second) }, "a", []string{"b"}, 1},
		{"remove the head", removing(ctx, q, func(a, _ string) string { return a }), "", []string{"b"}, 1},
		{"remove another message", removing(ctx, q, func(_, b string) string { return b }), "", []string{"a", "b"}, 0},
		{"remove a message gone", removing(ctx, q, func(_, _ string) string { return "gone" }), "", []string{"a", "b"}, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := queue.Key{Node: "n", Session: fmt.Sprint("head-", i), Topic: "t"}
			a, b := push(t, q, k, "a"), push(t, q, k, "b")
			before := q.Stats().Popped
			m, err := c.op(k, a, b)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got := payloadOf(m); got != c.got {
				t.Fatalf("%s returned %q, want %q", c.name, got, c.got)
			}
			if n := q.Stats().Popped - before; n != c.popped {
				t.Fatalf("%s took %d messages, want %d", c.name, n, c.popped)
			}
			if left := drain(t, q, k); !slices.Equal(left, c.left) {
				t.Fatalf("after %s the queue held %q, want %q", c.name, left, c.left)
			}
		})
	}
}

// TestHeadOperationsRefuseAReleasedSession releases a session that still
// holds a message: peek, pop and remove all answer 608, none reads it.
func TestHeadOperationsRefuseAReleasedSession(t *testing.T) {
	q := open(t, queue.Config{})
	ctx := context.Background()
	k := queue.Key{Node: "n", Session: "gone", Topic: "t"}
	id := push(t, q, k, "a")
	if err := q.Release(ctx, queue.Key{Node: k.Node, Session: k.Session}); err != nil {
		t.Fatal(err)
	}
	_, errPeek := q.Peek(ctx, k)
	_, errPop := q.Pop(ctx, k, time.Second)
	errRemove := q.Remove(ctx, k, id)
	for name, err := range map[string]error{"peek": errPeek, "pop": errPop, "remove": errRemove} {
		if code(err) != ptp.SessionReleased {
			t.Errorf("%s on a released session: %v, want %s", name, err, ptp.SessionReleased)
		}
	}
}

// removing is an operation that removes the id pick chooses of a and b.
func removing(ctx context.Context, q *queue.Queue, pick func(a, b string) string) func(queue.Key, string, string) (*queue.Message, error) {
	return func(k queue.Key, a, b string) (*queue.Message, error) {
		return nil, q.Remove(ctx, k, pick(a, b))
	}
}

// push stores payload in queue k and returns its id.
func push(t *testing.T, q *queue.Queue, k queue.Key, payload string) string {
	t.Helper()
	id, err := q.Push(context.Background(), k, queue.Message{Payload: []byte(payload)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// drain pops queue k until it is empty (at most 10 messages) and returns
// the payloads in order.
func drain(t *testing.T, q *queue.Queue, k queue.Key) []string {
	t.Helper()
	var got []string
	for range 10 {
		m, err := q.Pop(context.Background(), k, 10*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			break
		}
		got = append(got, string(m.Payload))
	}
	return got
}

func payloadOf(m *queue.Message) string {
	if m == nil {
		return ""
	}
	return string(m.Payload)
}
