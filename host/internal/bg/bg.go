// Package bg runs the background work of a component so that the component
// can stop it and wait for it on Close: no goroutine outlives its owner.
package bg

import (
	"context"
	"sync"
)

// Group is the background work of one owner. The zero value is not usable:
// make one with New.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // orders Go against Stop
	stopped bool
	wg      sync.WaitGroup
}

// New returns a running group.
func New() *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{ctx: ctx, cancel: cancel}
}

// Go runs f in a goroutine with a context that ends at Stop. It reports
// false, and runs nothing, once the group is stopped.
func (g *Group) Go(f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Go(func() { f(g.ctx) })
	return true
}

// Stop ends the context of every goroutine started by Go and returns once
// they all have returned. Later calls of Go run nothing. It is safe to call
// more than once.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}
