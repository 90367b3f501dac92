package meshclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// short is how long the calls below are allowed before their bound ends
// them; the node would hold them for far longer (callWait).
const short = 100 * time.Millisecond

// TestCallsEndWithTheirBounds: against a real node that holds a call (a pop
// of an empty topic, a push into a full session), the call ends with its
// ctx's deadline, or with WithTimeout's; a pop's own wait is not cut by
// WithTimeout. A full session whose wait for room runs out answers 700.
func TestCallsEndWithTheirBounds(t *testing.T) {
	n := meshtest.Start(t, host.Config{SessionMaxBytes: 4 << 10, FullWait: callWait})
	quick := meshtest.Start(t, host.Config{SessionMaxBytes: 4 << 10, FullWait: short})
	fill := make([]byte, 3<<10)
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			s := open(t, dial(t, n, w.opts...), "bound-"+w.name, nil)
			dc, cancel := context.WithTimeout(c, short)
			_, err := s.Pop(dc, "empty", callWait)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("pop bounded by its ctx: %v", err)
			}
			if err := s.Push(c, "full", fill, nil); err != nil {
				t.Fatal(err)
			}
			bounded := open(t, dial(t, n, append(w.opts, meshclient.WithTimeout(short))...), "bound-"+w.name, nil)
			if err := bounded.Push(c, "full", fill, nil); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("push into a full session with WithTimeout: %v", err)
			}
			if err := bounded.PushMany(c, "full", [][]byte{fill}, 1); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("push many into a full session with WithTimeout: %v", err)
			}
			if got, err := bounded.Pop(c, "empty", 3*short); err != nil || got != nil {
				t.Errorf("a pop waiting longer than WithTimeout: %q, %v; want nil, nil", got, err)
			}

			q := open(t, dial(t, quick, w.opts...), "full-"+w.name, nil)
			if err := q.Push(c, "t", fill, nil); err != nil {
				t.Fatal(err)
			}
			expect(t, "push into a full session", q.Push(c, "t", fill, nil), meshclient.ErrBufferFull)
		})
	}
}
