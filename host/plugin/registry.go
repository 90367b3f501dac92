package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/kvwatch"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The node's plugin store: records in a KV bucket, modules in an object
// store under their sha256. Every replica mirrors the bucket and loads what
// it names.
const (
	recordsBucket = natsnames.PluginsBucket
	modulesBucket = natsnames.PluginModules
	// MaxModule is the largest module accepted.
	MaxModule = 64 << 20
)

// Registry is the node's set of installed plugins.
type Registry struct {
	e   *Engine
	kv  jetstream.KeyValue
	obj jetstream.ObjectStore
	log *slog.Logger

	mu       sync.RWMutex
	records  map[string]Record  // every installed plugin, as stored
	running  map[string]*loaded // enabled ones that loaded here
	failed   map[string]string  // why an enabled one did not load here
	prepared map[string]*loaded // loaded by Install before its record lands, by fingerprint
	applied  uint64             // highest bucket revision applied
	changed  chan struct{}      // closed and replaced at every apply

	auth     decisions
	hot      atomic.Pointer[hotSet]
	watch    *kvwatch.Watch // follows the bucket until Close
	retiring sync.WaitGroup // replaced versions retiring after their calls in flight
}

// Open opens the plugin store in js (replicas copies of each bucket) and
// loads every enabled plugin; the registry follows changes until ctx ends.
func Open(ctx context.Context, js jetstream.JetStream, e *Engine, replicas int, log *slog.Logger) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: recordsBucket, Storage: jetstream.FileStorage, Replicas: replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("plugins bucket: %w", err)
	}
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: modulesBucket, Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("plugin modules store: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{e: e, kv: kv, obj: obj, log: log,
		records: map[string]Record{}, running: map[string]*loaded{}, failed: map[string]string{},
		prepared: map[string]*loaded{}, changed: make(chan struct{}), auth: newDecisions()}
	if r.watch, err = kvwatch.Mirror(context.WithoutCancel(ctx), kv, r.apply); err != nil {
		return nil, err
	}
	return r, nil
}

// Close stops following the bucket and stops every plugin. It returns once
// replaced versions have retired too, so the engine may be closed after it.
func (r *Registry) Close(ctx context.Context) {
	if r.watch != nil {
		r.watch.Stop()
	}
	r.retiring.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, l := range r.running {
		l.pool.retire(ctx)
		delete(r.running, name)
	}
	r.rehash()
}

// apply follows one change of the bucket: it loads, replaces or stops the
// plugin it names. A load that fails leaves the previous version running.
func (r *Registry) apply(e jetstream.KeyValueEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := e.Key()
	var rec Record
	put := e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &rec) == nil
	var next *loaded
	var loadErr error
	if put && rec.Enabled && r.current(name) != fingerprint(rec) {
		next, loadErr = r.loadRecord(ctx, rec)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.advance(e.Revision())
	defer r.rehash()
	old := r.running[name]
	delete(r.failed, name)
	switch {
	case !put:
		delete(r.records, name)
		delete(r.running, name)
	case !rec.Enabled:
		r.records[name] = rec
		delete(r.running, name)
	case loadErr != nil:
		r.records[name] = rec
		r.failed[name] = loadErr.Error()
		r.log.Error("plugin did not load; the previous version, if any, keeps running", "plugin", name, "err", loadErr)
		return
	case next == nil: // unchanged
		r.records[name] = rec
		return
	default:
		r.records[name] = rec
		r.running[name] = next
		r.log.Info("plugin loaded", "plugin", name, "kind", rec.Kind, "sha256", rec.SHA256[:12])
	}
	r.auth.forget(name)
	if old != nil {
		r.retire(old)
	}
}

// retire stops a replaced version in the background, after its calls in
// flight; Close waits for it.
func (r *Registry) retire(old *loaded) {
	r.retiring.Go(func() { old.pool.retire(context.Background()) })
}

func (r *Registry) current(name string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if l := r.running[name]; l != nil {
		return l.fp
	}
	return ""
}

// loadRecord loads rec, reusing what Install prepared on this replica.
func (r *Registry) loadRecord(ctx context.Context, rec Record) (*loaded, error) {
	fp := fingerprint(rec)
	r.mu.Lock()
	l := r.prepared[fp]
	delete(r.prepared, fp)
	r.mu.Unlock()
	if l != nil {
		l.rec = rec
		return l, nil
	}
	wasm, err := r.obj.GetBytes(ctx, rec.SHA256)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", rec.SHA256, err)
	}
	return r.e.load(ctx, rec, wasm)
}

func (r *Registry) advance(rev uint64) {
	r.applied = max(r.applied, rev)
	close(r.changed)
	r.changed = make(chan struct{})
}

// await returns once the bucket's revision rev has been applied here.
func (r *Registry) await(ctx context.Context, rev uint64) error {
	for {
		r.mu.RLock()
		done, ch := r.applied >= rev, r.changed
		r.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// awaitGone returns once this replica has stopped the plugin called name.
func (r *Registry) awaitGone(ctx context.Context, name string) error {
	for {
		r.mu.RLock()
		_, there := r.records[name]
		ch := r.changed
		r.mu.RUnlock()
		if !there {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Install validates, stores and loads a plugin, replacing one of the same
// name. A module that fails validation changes nothing.
func (r *Registry) Install(ctx context.Context, req InstallRequest) (Record, error) {
	rec, l, err := r.prepare(ctx, req)
	if err != nil {
		return Record{}, err
	}
	if l != nil {
		r.mu.Lock()
		r.prepared[l.fp] = l
		r.mu.Unlock()
	}
	if _, err = r.obj.PutBytes(ctx, rec.SHA256, req.Wasm); err != nil {
		r.drop(l)
		return Record{}, fmt.Errorf("store module: %w", err)
	}
	err = r.store(ctx, rec)
	r.drop(l) // unless the bucket's watch took it: an unchanged plugin keeps the running one
	if err != nil {
		return Record{}, err
	}
	r.log.Info("plugin installed", "plugin", rec.Name, "kind", rec.Kind, "sha256", rec.SHA256, "enabled", rec.Enabled)
	return r.Get(rec.Name)
}

// prepare checks req and, for an enabled plugin, loads it.
func (r *Registry) prepare(ctx context.Context, req InstallRequest) (Record, *loaded, error) {
	bad := func(format string, args ...any) (Record, *loaded, error) {
		return Record{}, nil, ptp.Errorf(ptp.BadRequest, "install %s: "+format, append([]any{req.Name}, args...)...)
	}
	if !validName.MatchString(req.Name) {
		return bad("name must be 1-63 of a-z 0-9 . _ - starting with a letter or digit")
	}
	if len(req.Wasm) > MaxModule {
		return bad("module of %d bytes exceeds the limit of %d", len(req.Wasm), MaxModule)
	}
	m, err := r.e.Inspect(ctx, req.Wasm, req.Options)
	if err != nil {
		return bad("%v", err)
	}
	if req.SHA256 != "" && req.SHA256 != m.SHA256 {
		return bad("sha256 mismatch: expected %s, the module received has %s", req.SHA256, m.SHA256)
	}
	kind, err := KindOf(m, req.Kind)
	if err != nil {
		return bad("%v", err)
	}
	if err := checkPrefixes(kind, req.Options.Prefixes); err != nil {
		return bad("%v", err)
	}
	rec := Record{Name: req.Name, Kind: kind, SHA256: m.SHA256, Size: m.Size, Enabled: !req.Disabled,
		Config: req.Config, Options: req.Options, Exports: m.Exports, Installed: time.Now().UTC()}
	if !rec.Enabled {
		return rec, nil, nil
	}
	l, err := r.e.load(ctx, rec, req.Wasm)
	if err != nil {
		return bad("%v", err)
	}
	return rec, l, nil
}

func (r *Registry) drop(l *loaded) {
	if l == nil {
		return
	}
	r.mu.Lock()
	unused := r.prepared[l.fp] == l
	delete(r.prepared, l.fp)
	r.mu.Unlock()
	if unused {
		l.pool.retire(context.Background())
	}
}

// store writes rec and waits until this replica has applied it.
func (r *Registry) store(ctx context.Context, rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	rev, err := r.kv.Put(ctx, rec.Name, b)
	if err != nil {
		return fmt.Errorf("store plugin record: %w", err)
	}
	return r.await(ctx, rev)
}

// List returns every installed plugin, by name, as this replica runs it.
func (r *Registry) List() []Record {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Record, 0, len(r.records))
	for _, rec := range r.records {
		out = append(out, r.view(rec))
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// view is rec with this replica's state: enabled, disabled or failed.
func (r *Registry) view(rec Record) Record {
	rec.State = "disabled"
	if rec.Enabled {
		rec.State = "enabled"
	}
	if msg, ok := r.failed[rec.Name]; ok {
		rec.State, rec.Error = "failed", msg
	}
	return rec
}

// Get returns the plugin called name.
func (r *Registry) Get(name string) (Record, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rec, ok := r.records[name]
	if !ok {
		return Record{}, ptp.Errorf(ptp.NotFound, "no plugin %q is installed", name)
	}
	return r.view(rec), nil
}

// SetEnabled enables or disables the plugin called name.
func (r *Registry) SetEnabled(ctx context.Context, name string, on bool) (Record, error) {
	rec, err := r.Get(name)
	if err != nil {
		return Record{}, err
	}
	rec.Enabled, rec.State, rec.Error = on, "", ""
	if err := r.store(ctx, rec); err != nil {
		return Record{}, err
	}
	return r.Get(name)
}

// Remove uninstalls the plugin called name, deleting its module when no
// other plugin uses it.
func (r *Registry) Remove(ctx context.Context, name string) error {
	rec, err := r.Get(name)
	if err != nil {
		return err
	}
	if err := r.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("remove plugin %s: %w", name, err)
	}
	if err := r.awaitGone(ctx, name); err != nil {
		return err
	}
	for _, other := range r.List() {
		if other.SHA256 == rec.SHA256 && other.Name != name {
			return nil
		}
	}
	if err := r.obj.Delete(ctx, rec.SHA256); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		r.log.Warn("plugin module not deleted", "plugin", name, "err", err)
	}
	return nil
}

// get returns the running plugin called name, of kind k.
func (r *Registry) get(name string, k Kind) (*loaded, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l := r.running[name]
	if l == nil || l.rec.Kind != k {
		code := ptp.NotFound
		if k == Codec {
			code = ptp.CodecError // the partner's payload cannot be read here
		}
		return nil, ptp.Errorf(code, "no %s plugin %q is installed and enabled on this node", k, name)
	}
	return l, nil
}

// hotSet is what every request reads: the running auth policies, by name,
// and the route prefixes, longest first. It is rebuilt at each change and
// read without a lock.
type hotSet struct {
	auth   []*loaded
	routes []routePrefix
}

type routePrefix struct{ prefix, name string }

// rehash rebuilds the hot set from the running plugins; r.mu is held.
func (r *Registry) rehash() {
	var h hotSet
	for _, l := range r.running {
		switch l.rec.Kind {
		case Auth:
			h.auth = append(h.auth, l)
		case Route:
			for _, p := range l.rec.Options.Prefixes {
				h.routes = append(h.routes, routePrefix{p, l.rec.Name})
			}
		}
	}
	slices.SortFunc(h.auth, func(a, b *loaded) int { return strings.Compare(a.rec.Name, b.rec.Name) })
	slices.SortFunc(h.routes, func(a, b routePrefix) int {
		if d := len(b.prefix) - len(a.prefix); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	r.hot.Store(&h)
}

// run calls fn of the running plugin picked by pick, looking again when the
// plugin was replaced while the call waited.
func run(ctx context.Context, pick func() (*loaded, error), fn string, input []byte) ([]byte, error) {
	for {
		l, err := pick()
		if err != nil {
			return nil, err
		}
		out, err := l.traced(ctx, fn, input)
		if err != ErrRetired {
			return out, err
		}
	}
}

// Stats are one running plugin's totals since it was loaded here.
type Stats struct {
	Kind      Kind   `json:"kind"`
	SHA256    string `json:"sha256"`
	Calls     int64  `json:"calls"`
	Failed    int64  `json:"failed"`    // calls that returned an error
	Instances int64  `json:"instances"` // instances made
	Discarded int64  `json:"discarded"` // instances closed after a trap or timeout
	Pool      int    `json:"pool"`      // most instances at once
	CallNanos int64  `json:"call_ns"`   // total time of the calls, ns (their mean: CallNanos/Calls)
}

// Stats returns the running plugins' totals, by name.
func (r *Registry) Stats() map[string]Stats {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]Stats, len(r.running))
	for name, l := range r.running {
		p := l.pool
		out[name] = Stats{Kind: l.rec.Kind, SHA256: l.rec.SHA256, Calls: p.calls.Load(), Failed: p.failed.Load(),
			Instances: p.made.Load(), Discarded: p.discarded.Load(), Pool: cap(p.slots), CallNanos: p.callNanos.Load()}
	}
	return out
}
