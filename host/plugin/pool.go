package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
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
	callNanos                      atomic.Int64 // total time of the calls, waits for an instance included
}

func newPool(mod compiled, size int) *pool {
	return &pool{mod: mod, slots: make(chan struct{}, size), idle: make(chan instance, size)}
}

// do runs fn on an instance, within timeout. The timeout bounds the
// guest's work and the wait for a busy instance, not the host's building
// of a fresh one (after a failed call discarded its instance): on a loaded
// machine that can take longer than a short call deadline, and the guest
// would be blamed for it. Building is bounded by instanceTimeout.
func (p *pool) do(ctx context.Context, timeout time.Duration, fn string, input []byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.retired {
		return nil, ErrRetired
	}
	start := time.Now()
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	call := wait // with an idle instance at hand, the call has the whole timeout
	var in instance
	select {
	case in = <-p.idle:
	default:
		var err error
		if in, err = p.get(wait, ctx); err != nil {
			return nil, err
		}
		var cancelCall context.CancelFunc
		call, cancelCall = context.WithTimeout(ctx, timeout)
		defer cancelCall()
	}
	out, err := in.call(call, fn, input)
	if err != nil && call.Err() != nil {
		err = fmt.Errorf("%w: %w", call.Err(), err)
	}
	p.callNanos.Add(int64(time.Since(start)))
	p.calls.Add(1)
	if err != nil {
		p.failed.Add(1)
	}
	p.put(ctx, in, reusable(err))
	return out, err
}

// instanceTimeout bounds the building of one instance.
const instanceTimeout = 30 * time.Second

// get takes an idle instance, or builds one in a free slot; wait bounds
// the wait for either, ctx (with instanceTimeout) the building.
func (p *pool) get(wait, ctx context.Context) (instance, error) {
	select {
	case in := <-p.idle:
		return in, nil
	default:
	}
	select {
	case in := <-p.idle:
		return in, nil
	case p.slots <- struct{}{}:
		build, cancel := context.WithTimeout(ctx, instanceTimeout)
		defer cancel()
		in, err := p.mod.instance(build)
		if err != nil {
			<-p.slots
			if build.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("starting an instance took over %s (does its _initialize or mesh_configure finish?): %w", instanceTimeout, err)
			}
			return nil, err
		}
		p.made.Add(1)
		return in, nil
	case <-wait.Done():
		return nil, fmt.Errorf("all %d instances busy: %w", cap(p.slots), wait.Err())
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
