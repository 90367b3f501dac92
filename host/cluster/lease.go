package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/jserr"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// A Lease is a duty that one replica at a time performs, such as delivering
// the outbox: held by whoever created its key in the leases bucket, kept by
// renewing it, and taken over by another replica once the holder stops
// renewing (it died, or lost its quorum) and the key expires.
type Lease struct {
	kv    jetstream.KeyValue
	key   string
	owner string
	ttl   time.Duration

	mu      sync.Mutex
	held    bool
	rev     uint64
	changed chan struct{} // closed and replaced when held changes
}

const leaseBucket = natsnames.LeaseBucket

// LeaseTTL is how long a lease outlives its holder's last renewal.
const LeaseTTL = 10 * time.Second

// openLeases creates the leases bucket.
func (n *NATS) openLeases(ctx context.Context) error {
	if n.leases != nil {
		return nil
	}
	kv, err := n.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: leaseBucket, Description: "duties one replica at a time performs",
		Storage: jetstream.FileStorage, Replicas: n.Replicas, History: 1, TTL: LeaseTTL,
	})
	if err != nil {
		return fmt.Errorf("lease bucket: %w", err)
	}
	n.leases = kv
	return nil
}

// Lease returns the lease called name, not yet held; Run competes for it.
func (n *NATS) Lease(name string) *Lease {
	return &Lease{kv: n.leases, key: name, owner: n.Name, ttl: LeaseTTL, changed: make(chan struct{})}
}

// Hold waits until this replica holds the lease, and keeps it until the
// returned release is called: a lock among the replicas.
func (l *Lease) Hold(ctx context.Context) (release func(), err error) {
	for {
		l.step(ctx)
		if l.Held() {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for lease %s: %w", l.key, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { l.Run(rctx); close(done) }()
	return func() { cancel(); <-done }, nil
}

// Held reports whether this replica holds the lease now.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Changed is closed when Held next changes.
func (l *Lease) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Run competes for the lease and keeps it until ctx ends, then gives it up
// so that another replica takes over at once.
func (l *Lease) Run(ctx context.Context) {
	t := time.NewTicker(l.ttl / 4)
	defer t.Stop()
	for {
		l.step(ctx)
		select {
		case <-ctx.Done():
			l.release()
			return
		case <-t.C:
		}
	}
}

// step renews the lease when held, else tries to take it.
func (l *Lease) step(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, l.ttl/4)
	defer cancel()
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.mu.Unlock()
	var err error
	switch {
	case held:
		rev, err = l.kv.Update(ctx, l.key, []byte(l.owner), rev)
	default:
		rev, err = l.kv.Create(ctx, l.key, []byte(l.owner))
		if jserr.IsConflict(err) {
			// Ours from before a restart under the same name: take it back.
			if e, gerr := l.kv.Get(ctx, l.key); gerr == nil && string(e.Value()) == l.owner {
				rev, err = l.kv.Update(ctx, l.key, []byte(l.owner), e.Revision())
			}
		}
	}
	l.set(err == nil, rev)
}

func (l *Lease) set(held bool, rev uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rev = rev
	if held != l.held {
		l.held = held
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// release gives the lease up if held.
func (l *Lease) release() {
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.mu.Unlock()
	if !held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev))
	l.set(false, 0)
}
