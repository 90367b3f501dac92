package queue

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/kvwatch"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// released remembers sessions released within the grace period. The record
// lives in a KV bucket (so every replica agrees) and is mirrored in memory by
// a watch, so the check on every push and pop costs no round trip.
type released struct {
	kv     jetstream.KeyValue
	grace  time.Duration
	mirror *kvwatch.Watch // set by watch

	mu    sync.RWMutex
	until map[string]time.Time // session key → end of grace
}

const releasedBucket = natsnames.ReleasedBucket

func openReleased(ctx context.Context, js jetstream.JetStream, grace time.Duration, replicas int) (*released, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   releasedBucket,
		TTL:      grace,
		Replicas: replicas,
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("released-session bucket: %w", err)
	}
	r := &released{kv: kv, grace: grace, until: make(map[string]time.Time)}
	return r, nil
}

// watch mirrors the bucket until stop. It returns once the current
// contents are loaded.
func (r *released) watch(ctx context.Context) error {
	w, err := kvwatch.Mirror(ctx, r.kv, r.apply)
	r.mirror = w
	return err
}

// stop ends the mirror started by watch and waits for it.
func (r *released) stop() {
	if r.mirror != nil {
		r.mirror.Stop()
	}
}

func (r *released) apply(e jetstream.KeyValueEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut || len(e.Value()) != 8 {
		delete(r.until, e.Key())
		return
	}
	r.until[e.Key()] = time.Unix(0, int64(binary.BigEndian.Uint64(e.Value())))
}

// has reports whether session key s is within its grace period.
func (r *released) has(s string) bool {
	r.mu.RLock()
	t, ok := r.until[s]
	r.mu.RUnlock()
	if !ok {
		return false
	}
	if time.Now().Before(t) {
		return true
	}
	r.mu.Lock()
	delete(r.until, s)
	r.mu.Unlock()
	return false
}

// mark records session key s as released now.
func (r *released) mark(ctx context.Context, s string) error {
	t := time.Now().Add(r.grace)
	r.mu.Lock()
	r.until[s] = t
	r.mu.Unlock()
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(t.UnixNano()))
	if _, err := r.kv.Put(ctx, s, v[:]); err != nil {
		return fmt.Errorf("record release: %w", err)
	}
	return nil
}
