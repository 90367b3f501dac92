package registry

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Stored is a registration as the bucket holds it: with its absolute
// expiry and when it was (last) registered.
type Stored struct {
	Registration
	Expires    time.Time `json:"expires"`
	Registered time.Time `json:"registered"`
}

// entry is a Stored with its key, bucket revision and parsed services.
type entry struct {
	Stored
	key      string
	rev      uint64
	services []settings // those that parse (all, unless a newer version stored it)
}

// newEntry parses st's services once, as it is applied.
func newEntry(st Stored, key string, rev uint64) entry {
	e := entry{Stored: st, key: key, rev: rev}
	if st.Content == nil {
		return e
	}
	for _, s := range st.Content.Services {
		if p, err := s.parse(st.Address); err == nil {
			e.services = append(e.services, p)
		}
	}
	return e
}

// table is one immutable compilation of the bucket: never changed once
// published, so readers take no lock.
type table struct {
	rev      uint64            // highest bucket revision applied
	entries  []entry           // sorted by name, instance id
	exact    map[string]Route  // proto+" "+urn → route of an exact urn
	prefixes map[string]Route  // proto+" "+base ("/a/b/") → route of a prefix
	routes   []Route           // every route, sorted by Key
	changed  chan struct{}     // closed when a newer table replaces this one
	byKey    map[string]*entry // key → entry
}

// compile builds the table of entries at revision rev.
func compile(rev uint64, byKey map[string]entry) *table {
	t := &table{rev: rev, exact: map[string]Route{}, prefixes: map[string]Route{},
		changed: make(chan struct{}), byKey: map[string]*entry{}}
	for _, e := range byKey {
		t.entries = append(t.entries, e)
	}
	slices.SortFunc(t.entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.InstanceID, b.InstanceID), cmp.Compare(a.key, b.key))
	})
	for i := range t.entries {
		t.byKey[t.entries[i].key] = &t.entries[i]
	}
	groups := map[string]*Route{}
	newest := map[string]*entry{}
	exp := map[string]*exposure{}
	for i := range t.entries {
		t.add(&t.entries[i], groups, newest, exp)
	}
	for k, r := range groups {
		r.Exposed, r.Partners = exp[k].result()
		slices.SortFunc(r.Instances, func(a, b Instance) int {
			return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Address, b.Address))
		})
		t.routes = append(t.routes, *r)
		if r.Prefix {
			t.prefixes[r.Proto+" "+prefixBase(r.URN)] = *r
		} else {
			t.exact[r.Key] = *r
		}
	}
	slices.SortFunc(t.routes, func(a, b Route) int { return cmp.Compare(a.Key, b.Key) })
	return t
}

// add puts e's services into their routes: one instance each, the
// settings of the newest registration, and its exposure into exp.
func (t *table) add(e *entry, groups map[string]*Route, newest map[string]*entry, exp map[string]*exposure) {
	for _, p := range e.services {
		r := groups[p.key()]
		if r == nil {
			r = &Route{Key: p.key()}
			groups[p.key()] = r
			exp[p.key()] = &exposure{exposed: true}
		}
		r.Instances = append(r.Instances, Instance{ID: e.InstanceID, Key: e.key, Address: p.address, Expires: e.Expires})
		exp[p.key()].add(p)
		if n := newest[p.key()]; n == nil || newer(e, n) {
			newest[p.key()] = e
			p.apply(r, e.Name)
		}
	}
}

// exposure folds the exposure of every registration of one route,
// restrictively: exposed only if every one is, to the partners every
// restricting one names.
type exposure struct {
	exposed  bool
	restrict bool            // some registration names partners
	partners map[string]bool // the partners all restricting ones name
}

// add folds in one registration's service.
func (x *exposure) add(p settings) {
	x.exposed = x.exposed && p.exposed
	if len(p.partners) == 0 {
		return
	}
	named := map[string]bool{}
	for _, id := range p.partners {
		if !x.restrict || x.partners[id] {
			named[id] = true
		}
	}
	x.restrict, x.partners = true, named
}

// result is the route's Exposed and Partners (sorted); a restriction that
// leaves no partner is no exposure.
func (x *exposure) result() (bool, []string) {
	if !x.exposed || !x.restrict {
		return x.exposed, nil
	}
	if len(x.partners) == 0 {
		return false, nil
	}
	out := make([]string, 0, len(x.partners))
	for id := range x.partners {
		out = append(out, id)
	}
	slices.Sort(out)
	return true, out
}

// newer reports whether a was registered after b.
func newer(a, b *entry) bool {
	if c := a.Registered.Compare(b.Registered); c != 0 {
		return c > 0
	}
	return a.key > b.key
}

// apply sets r's settings (not its instances or exposure) from p.
func (p settings) apply(r *Route, name string) {
	r.URN, r.Prefix, r.Proto, r.H2, r.Name = p.urn, p.prefix, p.proto, p.h2, name
	r.Timeout, r.Retries = p.timeout, p.retries
	r.Balance, r.Health = p.balance, p.health
}

// prefixBase is the path a prefix urn covers: "/a/b/*" → "/a/b/",
// "/pkg.S/" → "/pkg.S/".
func prefixBase(urn string) string {
	return strings.TrimSuffix(urn, "*")
}

// match finds the route of path: an exact urn first, then the longest
// prefix, skipping routes with no instance live at now.
func (t *table) match(path, proto string, now time.Time) (Route, bool) {
	if !Clean(path) {
		return Route{}, false
	}
	if r, ok := live(t.exact[proto+" "+path], now); ok {
		return r, true
	}
	// "/a/b" is covered by "/a/b/*" too; then every parent, longest first.
	if !strings.HasSuffix(path, "/") {
		if r, ok := live(t.prefixes[proto+" "+path+"/"], now); ok {
			return r, true
		}
	}
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] != '/' {
			continue
		}
		if r, ok := live(t.prefixes[proto+" "+path[:i+1]], now); ok {
			return r, true
		}
	}
	return Route{}, false
}

// live is r with only its instances unexpired at now; false when none is.
func live(r Route, now time.Time) (Route, bool) {
	n := 0
	for _, in := range r.Instances {
		if in.Expires.After(now) {
			n++
		}
	}
	switch {
	case n == 0:
		return Route{}, false
	case n == len(r.Instances):
		return r, true
	}
	kept := make([]Instance, 0, n)
	for _, in := range r.Instances {
		if in.Expires.After(now) {
			kept = append(kept, in)
		}
	}
	r.Instances = kept
	return r, true
}
