package network

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/jserr"
	"github.com/ppcmesh/mesh/host/internal/kvwatch"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/ptp"
)

// table holds the partner routes in a KV bucket, mirrored in memory by a
// watch so that every replica sees a change at once and lookups on the hot
// path cost no round trip.
type table struct {
	kv     jetstream.KeyValue
	mirror *kvwatch.Watch // set by watch

	mu     sync.RWMutex
	routes map[string]*entry // by node id
}

// entry is a stored route with its trust material parsed once.
type entry struct {
	Route
	rev   uint64
	pool  *x509.CertPool // the partner's root, when known
	pin   []byte         // the partner's exact certificate (DER), when given
	plain []netip.Prefix // where the partner may call from in plaintext
}

const routesBucket = natsnames.RoutesBucket

func openTable(ctx context.Context, js jetstream.JetStream, replicas int) (*table, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: routesBucket, Storage: jetstream.FileStorage, Replicas: replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("routes bucket: %w", err)
	}
	return &table{kv: kv, routes: make(map[string]*entry)}, nil
}

// watch mirrors the bucket until ctx ends or stop; it returns once the
// stored routes are loaded.
func (t *table) watch(ctx context.Context) error {
	w, err := kvwatch.Mirror(ctx, t.kv, t.apply)
	t.mirror = w
	return err
}

// stop ends the mirror started by watch and waits for it.
func (t *table) stop() {
	if t != nil && t.mirror != nil {
		t.mirror.Stop()
	}
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
	if r.AllowPlaintext {
		e.plain = plaintextSources(r)
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

// byInst returns the route to a usable node of institution inst: a woven
// one first, then the lowest node id, so that the choice never changes from
// one call to the next (acks refuse a second node for one institution).
func (t *table) byInst(inst string) (*entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var found *entry
	for _, e := range t.routes {
		if e.InstID == inst && (found == nil || better(e, found)) {
			found = e
		}
	}
	return found, found != nil
}

func better(e, than *entry) bool {
	if (e.State == StateWoven) != (than.State == StateWoven) {
		return e.State == StateWoven
	}
	return e.NodeID < than.NodeID
}

// instHolder returns another route than id's that names institution inst.
func (t *table) instHolder(inst, id string) (*entry, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, e := range t.routes {
		if e.InstID == inst && e.NodeID != id {
			return e, true
		}
	}
	return nil, false
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
	return t.applied(r, rev), nil
}

// updateTries bounds the compare-and-swap retries of one update.
const updateTries = 5

// update changes the route to id atomically across replicas: change gets
// the stored route (nil when there is none), read afresh from the bucket,
// and returns the route to store; a concurrent write makes it start again.
func (t *table) update(ctx context.Context, id string, change func(cur *Route) (Route, error)) (*entry, error) {
	for range updateTries {
		cur, rev, err := t.load(ctx, id)
		if err != nil {
			return nil, err
		}
		r, err := change(cur)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(r)
		if cur == nil {
			rev, err = t.kv.Create(ctx, id, b)
		} else {
			rev, err = t.kv.Update(ctx, id, b, rev)
		}
		if jserr.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store route %s: %w", id, err)
		}
		return t.applied(r, rev), nil
	}
	return nil, ptp.Errorf(ptp.SystemError, "route %s changed %d times while being updated: try again", id, updateTries)
}

// load reads the stored route to id and its revision; nil when there is none.
func (t *table) load(ctx context.Context, id string) (*Route, uint64, error) {
	kve, err := t.kv.Get(ctx, id)
	switch {
	case jserr.NotFound(err):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("load route %s: %w", id, err)
	}
	var r Route
	if err := json.Unmarshal(kve.Value(), &r); err != nil {
		return nil, 0, fmt.Errorf("stored route %s is damaged: %w", id, err)
	}
	return &r, kve.Revision(), nil
}

// applied makes r, stored at rev, the route here at once.
func (t *table) applied(r Route, rev uint64) *entry {
	e := newEntry(r, rev)
	t.mu.Lock()
	if cur := t.routes[r.NodeID]; cur == nil || cur.rev < rev {
		t.routes[r.NodeID] = e
	}
	t.mu.Unlock()
	return e
}

// remove deletes the route to id.
func (t *table) remove(ctx context.Context, id string) error {
	if err := t.kv.Delete(ctx, id); err != nil && !jserr.NotFound(err) {
		return fmt.Errorf("remove route %s: %w", id, err)
	}
	t.mu.Lock()
	delete(t.routes, id)
	t.mu.Unlock()
	return nil
}
