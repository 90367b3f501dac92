package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/jserr"
	"github.com/ppcmesh/mesh/host/internal/kvwatch"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/ptp"
)

// SweepInterval is how often each replica deletes expired registrations.
const SweepInterval = 5 * time.Second

// Store is the node's registrations: a KV bucket every replica mirrors and
// compiles into an immutable route table.
type Store struct {
	kv    jetstream.KeyValue
	log   *slog.Logger
	now   func() time.Time
	table atomic.Pointer[table]
	byKey map[string]entry // the mirror; touched by the watch goroutine alone
	watch *kvwatch.Watch
	ctx   context.Context // ends at Close: stops the sweeper and its calls
	stop  context.CancelFunc
	swept sync.WaitGroup
	close sync.Once
}

var _ Matcher = (*Store)(nil)

// Open opens the registry bucket in js (replicas copies) and mirrors it; a
// sweeper deletes expired registrations until Close.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Store, error) {
	return open(ctx, js, replicas, log, time.Now, SweepInterval)
}

// open is Open with the clock and the sweep interval given (tests).
func open(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger, now func() time.Time, sweep time.Duration) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: natsnames.RegistryBucket, Storage: jetstream.FileStorage, Replicas: replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("registry bucket: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{kv: kv, log: log, now: now, byKey: map[string]entry{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.table.Store(compile(0, s.byKey))
	if s.watch, err = kvwatch.Mirror(context.WithoutCancel(ctx), kv, s.apply); err != nil {
		s.stop()
		return nil, err
	}
	s.swept.Add(1)
	go s.sweeper(sweep)
	return s, nil
}

// Close stops the mirror and the sweeper and waits for both.
func (s *Store) Close() {
	s.close.Do(func() {
		s.stop()
		s.swept.Wait()
		s.watch.Stop()
	})
}

// apply follows one change of the bucket and publishes a new table.
func (s *Store) apply(e jetstream.KeyValueEntry) {
	var st Stored
	if e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &st) == nil {
		s.byKey[e.Key()] = newEntry(st, e.Key(), e.Revision())
	} else {
		delete(s.byKey, e.Key())
	}
	old := s.table.Load()
	s.table.Store(compile(max(old.rev, e.Revision()), s.byKey))
	close(old.changed)
}

// key is the bucket key of a registration: name and instance id, escaped.
func key(name, instanceID string) string {
	return natsnames.Token(name) + "." + natsnames.Token(instanceID)
}

// Register stores reg (validated at the store's clock), replacing the one
// of the same name and instance id: a re-registration is the heartbeat
// that renews its expiry. It returns once this replica routes by it.
func (s *Store) Register(ctx context.Context, reg Registration) (Stored, error) {
	now := s.now()
	if err := reg.Validate(now); err != nil {
		return Stored{}, err
	}
	exp, _ := reg.Expiry(now)
	st := Stored{Registration: reg, Expires: exp, Registered: now}
	b, err := json.Marshal(st)
	if err != nil {
		return Stored{}, fmt.Errorf("encode registration: %w", err)
	}
	rev, err := s.kv.Put(ctx, key(reg.Name, reg.InstanceID), b)
	if err != nil {
		return Stored{}, fmt.Errorf("store registration %s/%s: %w", reg.Name, reg.InstanceID, err)
	}
	return st, s.await(ctx, func(t *table) bool { return t.rev >= rev })
}

// Unregister deletes the registration of name and instance id; NotFound
// when there is none. It returns once this replica stopped routing by it.
func (s *Store) Unregister(ctx context.Context, name, instanceID string) error {
	k := key(name, instanceID)
	got, err := s.kv.Get(ctx, k)
	if err != nil {
		if jserr.NotFound(err) {
			return ptp.Errorf(ptp.NotFound, "no registration of name %q with instance_id %q", name, instanceID)
		}
		return fmt.Errorf("read registration %s/%s: %w", name, instanceID, err)
	}
	if err := s.kv.Delete(ctx, k); err != nil && !jserr.NotFound(err) {
		return fmt.Errorf("delete registration %s/%s: %w", name, instanceID, err)
	}
	// Done once it is gone here, or registered again since (a newer revision).
	return s.await(ctx, func(t *table) bool { e := t.byKey[k]; return e == nil || e.rev > got.Revision() })
}

// await returns once the current table satisfies done, or ctx ends.
func (s *Store) await(ctx context.Context, done func(*table) bool) error {
	for {
		t := s.table.Load()
		if done(t) {
			return nil
		}
		select {
		case <-t.changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for the registry to apply the change: %w", ctx.Err())
		}
	}
}

// List returns every unexpired registration, sorted by name and instance id.
func (s *Store) List() []Stored {
	now := s.now()
	var out []Stored
	for _, e := range s.table.Load().entries {
		if e.Expires.After(now) {
			out = append(out, e.Stored)
		}
	}
	return out
}

// Match returns the route of path among those of protocol proto: an exact
// urn first, else the longest prefix, with only its unexpired instances.
// A path that is not clean (see Clean) matches nothing.
func (s *Store) Match(path, proto string) (Route, bool) {
	return s.table.Load().match(path, proto, s.now())
}

// Routes returns every route with at least one unexpired instance, sorted
// by Key.
func (s *Store) Routes() []Route {
	now := s.now()
	var out []Route
	for _, r := range s.table.Load().routes {
		if l, ok := live(r, now); ok {
			out = append(out, l)
		}
	}
	return out
}

// Changed is closed (and replaced) whenever the bucket changes: a
// registration added, renewed, removed or swept.
func (s *Store) Changed() <-chan struct{} {
	return s.table.Load().changed
}

// sweeper deletes expired registrations every interval until Close.
func (s *Store) sweeper(interval time.Duration) {
	defer s.swept.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
			s.sweep(s.table.Load().entries)
		}
	}
}

// sweep deletes the entries expired by now, each only while it is still
// the revision seen here: a registration renewed meanwhile (on any
// replica) stays. Another replica deleting it first is harmless.
func (s *Store) sweep(entries []entry) {
	now := s.now()
	for _, e := range entries {
		if e.Expires.After(now) {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		err := s.kv.Delete(ctx, e.key, jetstream.LastRevision(e.rev))
		cancel()
		if err != nil && !jserr.NotFound(err) && !jserr.IsConflict(err) {
			s.log.Warn("registry: delete an expired registration", "name", e.Name, "instance_id", e.InstanceID, "err", err)
		}
	}
}
