package plugin

import (
	"context"
	"errors"
	"testing"
	"time"
)

// slowModule builds instances slowly (as a loaded machine does after a
// failed call discarded one) whose calls are quick, or spin until their
// context ends.
type slowModule struct{ build time.Duration }

type quickInstance struct{}

func (m slowModule) instance(ctx context.Context) (instance, error) {
	select {
	case <-time.After(m.build):
		return quickInstance{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (slowModule) close(context.Context) {}

func (quickInstance) call(ctx context.Context, fn string, input []byte) ([]byte, error) {
	if fn == "spin" {
		<-ctx.Done()
		return nil, errors.New("guest stopped")
	}
	return input, nil
}
func (quickInstance) close(context.Context) {}

// The call deadline bounds the guest, not the host building a fresh
// instance: a build slower than the deadline is not the guest's timeout.
func TestCallDeadlineExcludesBuildingAnInstance(t *testing.T) {
	p := newPool(slowModule{build: 100 * time.Millisecond}, 1)
	out, err := p.do(context.Background(), 20*time.Millisecond, "echo", []byte("x"))
	if err != nil || string(out) != "x" {
		t.Fatalf("a quick call on a slowly built instance: %q %v", out, err)
	}
	// The deadline still bounds the guest, and says so.
	_, err = p.do(context.Background(), 20*time.Millisecond, "spin", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a spinning guest: %v, want its deadline", err)
	}
}
