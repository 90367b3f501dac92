// Package kvwatch mirrors a JetStream KV bucket into memory: every replica
// that watches a bucket applies each change as it happens, so state checked
// on the hot path costs no round trip.
package kvwatch

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Watch is one running mirror of a bucket. Its owner calls Stop on Close.
type Watch struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine applying changes has returned
}

// Mirror calls apply for every entry of kv, then for every change, until
// ctx ends or Stop is called. It returns once the stored entries have been
// applied; on an error nothing keeps running.
func Mirror(ctx context.Context, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) (*Watch, error) {
	wctx, cancel := context.WithCancel(ctx)
	kw, err := kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	w := &Watch{cancel: cancel, done: make(chan struct{})}
	loaded := make(chan struct{})
	go w.follow(wctx, kw, apply, loaded)
	select {
	case <-loaded:
		return w, nil
	case <-w.done:
		cancel()
		return nil, fmt.Errorf("watch %s: ended before the stored entries were read", kv.Bucket())
	case <-ctx.Done():
		w.Stop()
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), ctx.Err())
	}
}

// follow applies every update until ctx ends or the watcher closes; it
// closes loaded at the marker that ends the stored entries.
func (w *Watch) follow(ctx context.Context, kw jetstream.KeyWatcher, apply func(jetstream.KeyValueEntry), loaded chan struct{}) {
	defer close(w.done)
	defer func() { _ = kw.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-kw.Updates():
			switch {
			case !ok:
				return
			case e == nil:
				if loaded != nil {
					close(loaded)
					loaded = nil
				}
			default:
				apply(e)
			}
		}
	}
}

// Stop ends the watch and returns once apply is not running and will not
// be called again. It is safe to call more than once.
func (w *Watch) Stop() {
	w.cancel()
	<-w.done
}
