package meshclient_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// TestQueueSemantics: over each transport against a real node, a topic is
// FIFO; a pop of an empty topic returns nil after its wait; a peek does not
// remove the head; a 0-byte message pops as an empty non-nil slice, unlike
// nothing; a message with its own metadata is stored; release drops a topic.
func TestQueueSemantics(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			s := open(t, dial(t, n, w.opts...), "s-"+w.name, nil)
			for i := range 3 {
				if err := s.Push(c, "fifo", fmt.Appendf(nil, "m%d", i), nil); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 3 {
				if got, err := s.Pop(c, "fifo", callWait); err != nil || string(got) != fmt.Sprintf("m%d", i) {
					t.Fatalf("pop %d: %q, %v", i, got, err)
				}
			}
			if got, err := s.Pop(c, "fifo", emptyWait); err != nil || got != nil {
				t.Fatalf("pop of an empty topic: %q, %v; want nil, nil", got, err)
			}
			if err := s.Push(c, "peek", []byte("head"), map[string]string{"k": "v"}); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got, err := s.Peek(c, "peek"); err != nil || string(got) != "head" {
					t.Fatalf("peek: %q, %v", got, err)
				}
			}
			if got, err := s.Pop(c, "peek", callWait); err != nil || string(got) != "head" {
				t.Fatalf("pop after peeks: %q, %v", got, err)
			}
			if got, err := s.Peek(c, "peek"); err != nil || got != nil {
				t.Fatalf("peek of an empty topic: %q, %v", got, err)
			}
			if err := s.Push(c, "empty", []byte{}, nil); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Pop(c, "empty", callWait); err != nil || got == nil || len(got) != 0 {
				t.Fatalf("pop of a 0-byte message: %v, %v; want an empty non-nil slice", got, err)
			}
			if err := s.Push(c, "dropped", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			if err := s.Release(c, "dropped"); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Peek(c, "dropped"); err != nil || got != nil {
				t.Fatalf("peek after release: %q, %v", got, err)
			}
		})
	}
}

// TestBothTransportsShareQueues: what one transport pushes the other pops.
func TestBothTransportsShareQueues(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	c := ctx(t)
	g := open(t, dial(t, n), "shared", nil)
	h := open(t, dial(t, n, meshclient.WithHTTP()), "shared", nil)
	if err := g.Push(c, "t", []byte("over grpc"), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Pop(c, "t", callWait); err != nil || string(got) != "over grpc" {
		t.Fatalf("pop over http: %q, %v", got, err)
	}
	if err := h.Push(c, "t", []byte("over http"), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := g.Pop(c, "t", callWait); err != nil || string(got) != "over http" {
		t.Fatalf("pop over grpc: %q, %v", got, err)
	}
}

// TestErrorsCarryCodes: failures are *Error values with the node's PTP
// code, matched by errors.Is and CodeOf: an unwoven target (618), a
// released session (608), a payload above the node's --max-message (413),
// one above the client's own limit (413, nothing sent), and the same in a
// PushMany, which names the message.
func TestErrorsCarryCodes(t *testing.T) {
	const max = 1 << 20
	n := meshtest.Start(t, host.Config{MaxMessage: max})
	n.Identify(t, "node-a", "inst-a")
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			tr := dial(t, n, w.opts...)
			lost := open(t, tr, "s-lost-"+w.name, meshclient.Metadata{meshclient.HeaderTargetNodeID: "node-z"})
			expect(t, "push to an unwoven node", lost.Push(c, "t", []byte("x"), nil), meshclient.ErrNotWoven)
			expect(t, "push many to an unwoven node", lost.PushMany(c, "t", [][]byte{[]byte("x")}, 4), meshclient.ErrNotWoven)

			s := open(t, tr, "s-err-"+w.name, nil)
			expect(t, "push above the node's limit", s.Push(c, "t", make([]byte, max+1), nil), meshclient.ErrTooLarge)
			err := s.PushMany(c, "t", [][]byte{[]byte("fits"), make([]byte, max+1)}, 4)
			expect(t, "push many above the node's limit", err, meshclient.ErrTooLarge)
			if want := "push message 1 of 2 to t"; err == nil || !bytes.Contains([]byte(err.Error()), []byte(want)) {
				t.Errorf("push many error %q does not name the message (%q)", err, want)
			}
			if got, err := s.Pop(c, "t", callWait); err != nil || string(got) != "fits" {
				t.Fatalf("the message before the refused one: %q, %v", got, err)
			}
			if err := s.Release(c, ""); err != nil {
				t.Fatal(err)
			}
			expect(t, "push to a released session", s.Push(c, "t", []byte("x"), nil), meshclient.ErrSessionReleased)
			_, err = s.Pop(c, "t", emptyWait)
			expect(t, "pop of a released session", err, meshclient.ErrSessionReleased)

			small := open(t, dial(t, n, append(w.opts, meshclient.WithMaxMessage(4))...), "s-small-"+w.name, nil)
			expect(t, "push above the client's limit", small.Push(c, "t", []byte("12345"), nil), meshclient.ErrTooLarge)
			expect(t, "push many above the client's limit", small.PushMany(c, "t", [][]byte{[]byte("12345")}, 1), meshclient.ErrTooLarge)
			if got, err := small.Peek(c, "t"); err != nil || got != nil {
				t.Fatalf("the client sent a payload above its limit: %q, %v", got, err)
			}
		})
	}
}

// expect fails unless err is an *Error matching want by errors.Is, with
// want's code from CodeOf and errors.As.
func expect(t *testing.T, what string, err error, want *meshclient.Error) {
	t.Helper()
	var e *meshclient.Error
	if !errors.Is(err, want) || !errors.As(err, &e) || e.Code != want.Code || meshclient.CodeOf(err) != want.Code {
		t.Errorf("%s: got %v, want code %s", what, err, want.Code)
	}
	if errors.Is(err, meshclient.ErrBadRequest) && want.Code != ptp.BadRequest {
		t.Errorf("%s: %v matches another code", what, err)
	}
}

// TestPopAboveClientLimit: a message above the client's own limit (plus its
// 1 MiB envelope room) fails the pop with ErrTooLarge over each transport.
func TestPopAboveClientLimit(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			id := "limit-" + w.name
			if err := open(t, dial(t, n, w.opts...), id, nil).Push(c, "t", make([]byte, 2<<20), nil); err != nil {
				t.Fatal(err)
			}
			small := open(t, dial(t, n, append(w.opts, meshclient.WithMaxMessage(4))...), id, nil)
			_, err := small.Pop(c, "t", callWait)
			expect(t, "pop above the client's limit", err, meshclient.ErrTooLarge)
		})
	}
}
