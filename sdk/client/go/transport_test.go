package meshclient_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// TestAcrossWovenNodes: a push at A that targets B (by node id, and by
// institution id alone) is popped at B, by a session whose own target
// headers do not send its pops elsewhere; a PushMany at A targeting B
// arrives at B in order.
func TestAcrossWovenNodes(t *testing.T) {
	a, b := pair(t)
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			id := "job-" + w.name
			// B's session targets A, as a reply channel would: its pops
			// still read B's own queue.
			atB := open(t, dial(t, b, w.opts...), id, meshclient.Metadata{meshclient.HeaderTargetNodeID: "node-a", meshclient.HeaderTargetInstID: "inst-a"})
			for _, md := range []meshclient.Metadata{
				{meshclient.HeaderTargetNodeID: "node-b"},
				{meshclient.HeaderTargetInstID: "inst-b"},
			} {
				fromA := open(t, dial(t, a, w.opts...), id, md)
				if err := fromA.Push(c, "t", []byte("to b"), nil); err != nil {
					t.Fatalf("push at A with %v: %v", md, err)
				}
				if got, err := atB.Pop(c, "t", callWait); err != nil || string(got) != "to b" {
					t.Fatalf("pop at B after a push with %v: %q, %v", md, got, err)
				}
			}
			fromA := open(t, dial(t, a, w.opts...), id, meshclient.Metadata{meshclient.HeaderTargetNodeID: "node-b"})
			payloads := numbered(50, 16)
			if err := fromA.PushMany(c, "many", payloads, 8); err != nil {
				t.Fatal(err)
			}
			popAll(t, atB, "many", payloads)
		})
	}
}

// TestPushManyKeepsOrder: PushMany stores every message once and in order,
// with several in flight (window 16, and the default for 0), and a push
// after it lands behind them; no messages is no call.
func TestPushManyKeepsOrder(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			s := open(t, dial(t, n, w.opts...), "many-"+w.name, nil)
			for _, window := range []int{16, 0, 1} {
				payloads := numbered(300, 1024)
				if err := s.PushMany(c, "t", payloads, window); err != nil {
					t.Fatalf("window %d: %v", window, err)
				}
				if err := s.Push(c, "t", []byte("after"), nil); err != nil {
					t.Fatal(err)
				}
				popAll(t, s, "t", append(payloads, []byte("after")))
			}
			if err := s.PushMany(c, "t", nil, 4); err != nil {
				t.Fatalf("no messages: %v", err)
			}
		})
	}
}

// numbered is n distinct payloads of size bytes, each starting with its index.
func numbered(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		p := bytes.Repeat([]byte{byte(i)}, size)
		copy(p, fmt.Sprintf("%06d:", i))
		out[i] = p
	}
	return out
}

// popAll pops len(want) messages from topic, fails unless they are want in
// order, and checks the topic is then empty.
func popAll(t *testing.T, s *meshclient.Session, topic string, want [][]byte) {
	t.Helper()
	c := ctx(t)
	for i, w := range want {
		got, err := s.Pop(c, topic, callWait)
		if err != nil || !bytes.Equal(got, w) {
			t.Fatalf("message %d of %d: got %.12q (%v), want %.12q", i, len(want), got, err, w)
		}
	}
	if got, err := s.Peek(c, topic); err != nil || got != nil {
		t.Fatalf("after %d messages the topic still holds %.12q (%v)", len(want), got, err)
	}
}

// TestLargePayload: 64 MiB goes through each transport byte for byte.
func TestLargePayload(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB payloads")
	}
	n := meshtest.Start(t, host.Config{})
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>16)
	}
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			s := open(t, dial(t, n, w.opts...), "big-"+w.name, nil)
			if err := s.Push(c, "t", big, nil); err != nil {
				t.Fatal(err)
			}
			got, err := s.Pop(c, "t", callWait)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("pop of 64 MiB: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestCloseReleasesSessions: Close releases the sessions opened and not
// released (the node then answers them 608), and later calls, opens and
// closes of the transport fail with ErrClosed (Close: nil).
func TestCloseReleasesSessions(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			tr := dial(t, n, w.opts...)
			s := open(t, tr, "closing-"+w.name, nil)
			if err := s.Push(c, "t", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
			if err := s.Push(c, "t", []byte("x"), nil); !errors.Is(err, meshclient.ErrClosed) {
				t.Fatalf("push after close: %v", err)
			}
			if err := s.PushMany(c, "t", [][]byte{{1}}, 1); !errors.Is(err, meshclient.ErrClosed) {
				t.Fatalf("push many after close: %v", err)
			}
			if _, err := tr.Open(c, "other", nil); !errors.Is(err, meshclient.ErrClosed) {
				t.Fatalf("open after close: %v", err)
			}
			again := open(t, dial(t, n, w.opts...), "closing-"+w.name, nil)
			_, err := again.Peek(c, "t")
			expect(t, "peek of a session Close released", err, meshclient.ErrSessionReleased)
		})
	}
}

// TestDialFailsFast: Dial to an address where no node listens fails, over
// each transport, before its ctx ends; an empty session id is refused.
func TestDialFailsFast(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	for _, w := range wires {
		c := ctx(t)
		if tr, err := meshclient.Dial(c, addr, w.opts...); err == nil || c.Err() != nil {
			if tr != nil {
				tr.Close()
			}
			t.Errorf("%s: dial of a closed port: %v (ctx %v)", w.name, err, c.Err())
		}
	}
	if _, err := meshclient.Dial(ctx(t), addr, meshclient.WithMaxMessage(0)); err == nil {
		t.Error("a max message of 0 was accepted")
	}
	n := meshtest.Start(t, host.Config{})
	_, err = dial(t, n).Open(context.Background(), "", nil)
	expect(t, "empty session id", err, meshclient.ErrBadRequest)
}
