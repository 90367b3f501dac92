package api

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// trickle reads a few bytes per call and records the largest buffer it was
// handed, which is what the body reader had allocated.
type trickle struct {
	r       io.Reader
	per     int
	largest int
}

func (t *trickle) Read(p []byte) (int, error) {
	t.largest = max(t.largest, cap(p))
	return t.r.Read(p[:min(len(p), t.per)])
}

// TestBodyBufferGrowsWithWhatArrives: the buffer follows the bytes read,
// not the Content-Length claimed, and ends exactly at a declared length.
func TestBodyBufferGrowsWithWhatArrives(t *testing.T) {
	for _, c := range []struct {
		name     string
		sent     int
		declared int64
	}{
		{"small, declared", 1 << 10, 1 << 10},
		{"large, declared", 5 << 20, 5 << 20},
		{"claims 120 MiB, sends 100 KiB", 100 << 10, 120 << 20},
		{"chunked", 300 << 10, -1},
		{"empty", 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &trickle{r: bytes.NewReader(bytes.Repeat([]byte("x"), c.sent)), per: 32 << 10}
			br := BodyRate{}.reader(httptest.NewRecorder())
			got, err := br.readAll(src, c.declared)
			if err != nil || len(got) != c.sent {
				t.Fatalf("read %d bytes, %v; want %d", len(got), err, c.sent)
			}
			if bound := 2*c.sent + firstBodyBuf; cap(got) > bound {
				t.Fatalf("buffer of %d bytes for %d received (bound %d)", cap(got), c.sent, bound)
			}
			if c.declared == int64(c.sent) && cap(got) != c.sent {
				t.Fatalf("buffer of %d bytes for a body of exactly %d", cap(got), c.sent)
			}
		})
	}
}

func TestPopLimiter(t *testing.T) {
	a, b := &network.Conn{}, &network.Conn{}
	l := NewPopLimiter(2, 3)
	for _, c := range []*network.Conn{a, a} {
		if err := l.Acquire(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Acquire(a); !isFull(err, "per connection") {
		t.Fatalf("third pop on one connection: %v", err)
	}
	if err := l.Acquire(b); err != nil {
		t.Fatalf("another connection: %v", err)
	}
	if err := l.Acquire(nil); !isFull(err, "node") {
		t.Fatalf("over the node's cap: %v", err)
	}
	l.Release(a)
	if l.Waiting() != 2 {
		t.Fatalf("waiting %d after one release", l.Waiting())
	}
	if err := l.Acquire(a); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	l.Release(a)
	l.Release(a)
	if err := l.Acquire(a); err != nil || len(l.byConn) != 2 {
		t.Fatalf("a connection's count dropped once it had none: %v, %d connections counted", err, len(l.byConn))
	}
	var none *PopLimiter
	if err := none.Acquire(a); err != nil {
		t.Fatalf("nil limiter: %v", err)
	}
	none.Release(a)
}

func isFull(err error, limit string) bool {
	c, msg := ptp.Describe(err)
	return c == ptp.BufferFull && strings.Contains(msg, limit)
}
