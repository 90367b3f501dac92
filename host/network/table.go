package network

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/kvwatch"
)

// table holds the partner routes in a KV bucket, mirrored in memory by a
// watch so that every replica sees a change at once and lookups on the hot
// path cost no round trip.
type table struct {
	kv jetstream.KeyValue

	mu     sync.RWMutex
	routes map[string]*entry // by node id
}

// entry is a stored route with its trust material parsed once.
type entry struct {
	Route
	rev  uint64
	pool *x509.CertPool // the partner's root, when known
	pin  []byte         // the partner's exact certificate (DER), when given
}

const routesBucket = "mesh_routes"

func openTable(ctx context.Context, js jetstream.JetStream, replicas int) (*table, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: routesBucket, Storage: jetstream.FileStorage, Replicas: replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("routes bucket: %w", err)
	}
	return &table{kv: kv, routes: make(map[string]*entry)}, nil
}

// watch mirrors the bucket until ctx ends; it returns once the stored routes
// are loaded.
func (t *table) watch(ctx context.Context) error {
	return kvwatch.Mirror(ctx, t.kv, t.apply)
}

func (t *table) apply(e jetstream.KeyValueEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.routes[e.Key()]; cur != nil && cur.rev >= e.Revision() {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(t.routes, e.Key())
		return
	}
	var r Route
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return // a damaged record is ignored rather than trusted
	}
	t.routes[e.Key()] = newEntry(r, e.Revision())
}

func newEntry(r Route, rev uint64) *entry {
	e := &entry{Route: r, rev: rev}
	if c, err := parseRoot(r.GuestRoot); err == nil {
		e.pool = x509.NewCertPool()
		e.pool.AddCert(c)
	}
	if c, err := parseCert(r.GuestCrt); err == nil {
		e.pin = c.Raw
	}
	return e
}

// get returns the route to node id.
func (t *table) get(id string) (*entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.routes[id]
	return e, ok
}

// byInst returns the route to a usable node of institution inst.
func (t *table) byInst(inst string) (*entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var found *entry
	for _, e := range t.routes {
		if e.InstID == inst && (found == nil || e.State == Woven && found.State != Woven) {
			found = e
		}
	}
	return found, found != nil
}

// list returns every route, sorted by node id.
func (t *table) list() []*entry {
	t.mu.RLock()
	out := make([]*entry, 0, len(t.routes))
	for _, e := range t.routes {
		out = append(out, e)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// put stores r and applies it here at once.
func (t *table) put(ctx context.Context, r Route) (*entry, error) {
	b, _ := json.Marshal(r)
	rev, err := t.kv.Put(ctx, r.NodeID, b)
	if err != nil {
		return nil, fmt.Errorf("store route %s: %w", r.NodeID, err)
	}
	e := newEntry(r, rev)
	t.mu.Lock()
	if cur := t.routes[r.NodeID]; cur == nil || cur.rev < rev {
		t.routes[r.NodeID] = e
	}
	t.mu.Unlock()
	return e, nil
}

// remove deletes the route to id.
func (t *table) remove(ctx context.Context, id string) error {
	if err := t.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove route %s: %w", id, err)
	}
	t.mu.Lock()
	delete(t.routes, id)
	t.mu.Unlock()
	return nil
}
