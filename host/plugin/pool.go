package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// instance is one running copy of a plugin. It serves one call at a time.
type instance interface {
	call(ctx context.Context, fn string, input []byte) ([]byte, error)
	close(ctx context.Context)
}

// compiled makes instances of a compiled plugin.
type compiled interface {
	instance(ctx context.Context) (instance, error)
	close(ctx context.Context)
}

// ErrRetired is returned by a call on a plugin that was replaced or removed
// while the call waited; the caller looks the plugin up again.
var ErrRetired = errors.New("plugin retired")

// pool bounds the instances of one compiled plugin: at most cap(slots) run
// at once, idle ones are reused, and a caller waits (back-pressure) until
// one is free or its context ends. An instance whose call trapped or timed
// out is closed and its slot freed, so a fresh one replaces it.
type pool struct {
	mod   compiled
	slots chan struct{}
	idle  chan instance

	mu      sync.RWMutex // held for reading by every call, for writing by retire
	retired bool

	calls, failed, made, discarded atomic.Int64
}

func newPool(mod compiled, size int) *pool {
	return &pool{mod: mod, slots: make(chan struct{}, size), idle: make(chan instance, size)}
}

// do runs fn on an instance.
func (p *pool) do(ctx context.Context, fn string, input []byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.retired {
		return nil, ErrRetired
	}
	in, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	out, err := in.call(ctx, fn, input)
	p.calls.Add(1)
	if err != nil {
		p.failed.Add(1)
	}
	p.put(ctx, in, reusable(err))
	return out, err
}

func (p *pool) get(ctx context.Context) (instance, error) {
	select {
	case in := <-p.idle:
		return in, nil
	default:
	}
	select {
	case in := <-p.idle:
		return in, nil
	case p.slots <- struct{}{}:
		in, err := p.mod.instance(ctx)
		if err != nil {
			<-p.slots
			return nil, err
		}
		p.made.Add(1)
		return in, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("all %d instances busy: %w", cap(p.slots), ctx.Err())
	}
}

func (p *pool) put(ctx context.Context, in instance, ok bool) {
	if ok {
		p.idle <- in
		return
	}
	in.close(context.WithoutCancel(ctx))
	p.discarded.Add(1)
	<-p.slots
}

// retire waits for calls in flight, then closes every instance and the
// compiled module. Later calls get ErrRetired.
func (p *pool) retire(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return
	}
	p.retired = true
	for {
		select {
		case in := <-p.idle:
			in.close(ctx)
		default:
			p.mod.close(ctx)
			return
		}
	}
}
