package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// TestOversizeIdentifiersAreRefusedBeforeNATS: an identifier that escapes to
// a subject over NATS's control line made the server drop the connection,
// and every later call failed. Each is refused with 400 before any NATS
// request, at every entry, and the queue keeps working afterwards.
func TestOversizeIdentifiersAreRefusedBeforeNATS(t *testing.T) {
	q := open(t, queue.Config{ChunkSize: 64 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	long := strings.Repeat("s", 4100)    // over the control line as it is
	escaped := strings.Repeat("é.", 700) // 1,400 runes, 2,800 bytes, 7,000 escaped
	ok := queue.Key{Node: "n", Session: "fine", Topic: "t"}
	bad := []queue.Key{
		{Node: "n", Session: long, Topic: "t"},
		{Node: "n", Session: escaped, Topic: "t"},
		{Node: "n", Session: "s", Topic: long},
		{Node: long, Session: "s", Topic: "t"},
		{Node: "n", Session: strings.Repeat(".", queue.MaxIDBytes/3+1), Topic: "t"}, // short, but too long escaped
	}
	for _, k := range bad {
		calls := map[string]error{}
		_, calls["push"] = q.Push(ctx, k, queue.Message{Payload: make([]byte, 200<<10)}) // chunked: its subjects are longest
		_, calls["pop"] = q.Pop(ctx, k, time.Millisecond)
		_, calls["peek"] = q.Peek(ctx, k)
		calls["remove"] = q.Remove(ctx, k, "x")
		calls["release"] = q.Release(ctx, queue.Key{Node: k.Node, Session: k.Session})
		_, calls["keys"] = q.Keys(ctx, k.Node)
		for call, err := range calls {
			if call == "keys" && k.Node == "n" {
				if err != nil {
					t.Fatalf("keys of n: %v", err)
				}
				continue
			}
			if call == "release" && len(k.Topic) > queue.MaxIDBytes {
				continue // released without the topic: allowed
			}
			if code(err) != ptp.BadRequest || !strings.Contains(err.Error(), "256") {
				t.Fatalf("%s of %.40q…: got %v, want 400 naming the limit", call, k.Session+"/"+k.Topic, err)
			}
		}
	}
	_, err := q.Push(ctx, ok, queue.Message{ID: strings.Repeat("i", 300), Payload: []byte("x")})
	if code(err) != ptp.BadRequest {
		t.Fatalf("oversize message id: %v", err)
	}
	t.Logf("refused: %v", err)
	// The largest identifiers allowed work, chunked, and so does a normal key.
	max := strings.Repeat("m", queue.MaxIDBytes)
	for _, k := range []queue.Key{{Node: max, Session: max, Topic: max}, ok} {
		if _, err := q.Push(ctx, k, queue.Message{ID: max, Payload: make([]byte, 200<<10)}); err != nil {
			t.Fatalf("push at the limit: %v", err)
		}
		if m, err := q.Pop(ctx, k, 5*time.Second); err != nil || m == nil || len(m.Payload) != 200<<10 {
			t.Fatalf("pop at the limit: %v %v", m, err)
		}
	}
}

func TestCheckMeasuresTheEscapedForm(t *testing.T) {
	for _, c := range []struct {
		session string
		ok      bool
	}{
		{strings.Repeat("a", queue.MaxIDBytes), true},
		{strings.Repeat("a", queue.MaxIDBytes+1), false},
		{strings.Repeat(":", queue.MaxIDBytes/3), true},
		{strings.Repeat(":", queue.MaxIDBytes/3+1), false},
		{"", true},
	} {
		err := queue.Check(queue.Key{Node: "n", Session: c.session, Topic: "t"}, "")
		if (err == nil) != c.ok {
			t.Fatalf("session of %d bytes: %v", len(c.session), err)
		}
	}
}
