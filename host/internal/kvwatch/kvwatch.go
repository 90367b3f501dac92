// Package kvwatch mirrors a JetStream KV bucket into memory: every replica
// that watches a bucket applies each change as it happens, so state checked
// on the hot path costs no round trip.
package kvwatch

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Mirror calls apply for every entry of kv, then for every change, until ctx
// ends. It returns once the stored entries have been applied.
func Mirror(ctx context.Context, kv jetstream.KeyValue, apply func(jetstream.KeyValueEntry)) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	loaded := make(chan struct{})
	go func() {
		defer w.Stop()
		for e := range w.Updates() {
			if e == nil {
				close(loaded)
				continue
			}
			apply(e)
		}
	}()
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
