package cluster

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// health is the readiness probe: a write to a bucket replicated like the
// queues. A replica cut off from the quorum cannot commit it, even while
// its own server still believes it leads, so the probe fails within its
// timeout of a partition.
type health struct {
	kv  jetstream.KeyValue
	key string

	mu   sync.Mutex
	at   time.Time // when err was found
	err  error
	busy chan struct{} // closed when the probe in flight ends
}

const (
	healthBucket  = natsnames.HealthBucket
	probeTimeout  = 2 * time.Second
	probeCacheFor = time.Second
)

var notKeyChar = regexp.MustCompile(`[^A-Za-z0-9_=-]`)

// openHealth creates the bucket with the cluster's replication.
func (n *NATS) openHealth(ctx context.Context) error {
	if n.health != nil {
		return nil
	}
	kv, err := n.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: healthBucket, Description: "readiness probes of the replicas",
		Storage: jetstream.FileStorage, Replicas: n.Replicas, History: 1, TTL: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("health bucket: %w", err)
	}
	n.health = &health{kv: kv, key: notKeyChar.ReplaceAllString(n.Name, "_")}
	return nil
}

// probe writes this replica's key.
func (h *health) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := h.kv.Put(ctx, h.key, strconv.AppendInt(nil, time.Now().UnixMilli(), 10)); err != nil {
		return fmt.Errorf("nats: cannot store with the cluster's quorum: %w", err)
	}
	return nil
}

// ready probes at most once a second; concurrent callers share a probe.
func (h *health) ready(ctx context.Context) error {
	if h == nil {
		return errors.New("nats: not started")
	}
	h.mu.Lock()
	if time.Since(h.at) < probeCacheFor {
		err := h.err
		h.mu.Unlock()
		return err
	}
	if busy := h.busy; busy != nil {
		h.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
		err := h.err
		h.mu.Unlock()
		return err
	}
	busy := make(chan struct{})
	h.busy = busy
	h.mu.Unlock()
	err := h.probe(context.WithoutCancel(ctx))
	h.mu.Lock()
	h.at, h.err, h.busy = time.Now(), err, nil
	h.mu.Unlock()
	close(busy)
	return err
}
