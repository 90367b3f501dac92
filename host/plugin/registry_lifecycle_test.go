package plugin

import (
	"context"
	"testing"

	"github.com/ppcmesh/mesh/host/internal/lifetest"
)

// stubModule is a compiled module that makes no instances.
type stubModule struct{ closed chan struct{} }

func (m stubModule) instance(context.Context) (instance, error) { return nil, ErrRetired }
func (m stubModule) close(context.Context)                      { close(m.closed) }

// TestCloseWaitsForRetiringVersion: a replaced version retires in the
// background after its calls in flight; Close returns only once it has, so
// the engine is never closed under it.
func TestCloseWaitsForRetiringVersion(t *testing.T) {
	mod := stubModule{closed: make(chan struct{})}
	old := &loaded{pool: newPool(mod, 1)}
	r := &Registry{auth: newDecisions(), running: map[string]*loaded{}}
	old.pool.mu.RLock() // a call in flight on the old version
	r.retire(old)
	lifetest.Waits(t, "Close", func() { r.Close(context.Background()) }, old.pool.mu.RUnlock) // the call ends
	select {
	case <-mod.closed:
	default:
		t.Fatal("Close returned before the old module was closed")
	}
}
