package registry

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/internal/natstest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// clock is a settable time for the stores under test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock                   { c := &clock{}; c.ns.Store(t0.UnixNano()); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// testStore opens a store on js with clock c, sweeping every sweep.
func testStore(t *testing.T, js jetstream.JetStream, c *clock, sweep time.Duration) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := open(ctx, js, 1, nil, c.now, sweep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// reg is a registration of name/instance at addr with the services given
// as "proto urn" (timestamp: validity in ms).
func reg(name, instance, addr string, ms int64, services ...string) Registration {
	r := Registration{Name: name, Kind: KindComplex, Address: addr, InstanceID: instance, Timestamp: Millis(ms), Content: &Content{}}
	for _, s := range services {
		proto, urn, _ := strings.Cut(s, " ")
		r.Content.Services = append(r.Content.Services, Service{URN: urn, Proto: proto, Kind: KindRestful})
	}
	return r
}

func register(t *testing.T, s *Store, r Registration) Stored {
	t.Helper()
	st, err := s.Register(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// matched is the instance ids of the route s matches for path, "" if none.
func matched(s Matcher, path, proto string) string {
	r, ok := s.Match(path, proto)
	if !ok {
		return ""
	}
	var ids []string
	for _, in := range r.Instances {
		ids = append(ids, in.ID)
	}
	return r.URN + "=" + strings.Join(ids, ",")
}

// TestMatchLongest: an exact urn beats a prefix, a longer prefix a shorter
// one, "/a/*" covers "/a" and below but not "/ab"; gRPC routes a whole
// service or one method; protocols do not mix; unclean paths match nothing.
func TestMatchLongest(t *testing.T) {
	s := testStore(t, natstest.JetStream(t), newClock(), time.Hour)
	register(t, s, reg("a", "i1", "127.0.0.1:1", 60000, "http /", "http /a/*", "http /a/b/*", "http /a/b/c", "grpc /pkg.S/", "grpc /pkg.S/Get"))
	register(t, s, reg("b", "i2", "127.0.0.1:2", 60000, "http /a/b/*"))
	for _, c := range []struct{ path, proto, want string }{
		{"/a/b/c", ProtoHTTP, "/a/b/c=i1"},
		{"/a/b/c/d", ProtoHTTP, "/a/b/*=i1,i2"},
		{"/a/b", ProtoHTTP, "/a/b/*=i1,i2"},
		{"/a/b/", ProtoHTTP, "/a/b/*=i1,i2"},
		{"/a/x", ProtoHTTP, "/a/*=i1"},
		{"/a", ProtoHTTP, "/a/*=i1"},
		{"/ab", ProtoHTTP, ""},
		{"/", ProtoHTTP, "/=i1"},
		{"/pkg.S/Get", ProtoGRPC, "/pkg.S/Get=i1"},
		{"/pkg.S/Put", ProtoGRPC, "/pkg.S/=i1"},
		{"/pkg.T/Put", ProtoGRPC, ""},
		{"/a/b/c", ProtoGRPC, ""},
		{"/a/../a/b/c", ProtoHTTP, ""},
		{"/a//b/c", ProtoHTTP, ""},
	} {
		if got := matched(s, c.path, c.proto); got != c.want {
			t.Errorf("Match(%q, %s) = %q, want %q", c.path, c.proto, got, c.want)
		}
	}
	if n := len(s.Routes()); n != 6 {
		t.Errorf("%d routes, want 6", n)
	}
}

// TestNewestSettings: a route's settings come from its newest registration.
func TestNewestSettings(t *testing.T) {
	c := newClock()
	s := testStore(t, natstest.JetStream(t), c, time.Hour)
	old := reg("old", "i1", "127.0.0.1:1", 60000, "http /x")
	old.Content.Services[0].Retries = 1
	register(t, s, old)
	c.advance(time.Second)
	fresh := reg("new", "i2", "127.0.0.1:2", 60000, "http /x")
	fresh.Content.Services[0].Retries = 3
	register(t, s, fresh)
	r, ok := s.Match("/x", ProtoHTTP)
	if !ok || r.Name != "new" || r.Retries != 3 || len(r.Instances) != 2 {
		t.Fatalf("route %+v", r)
	}
}

// TestExposureRestrictive: a route is exposed only while every
// registration of it is, to the partners every restricting one names; a
// private instance never becomes reachable because another one registered
// the urn exposed, whichever renewed last (finding 2).
func TestExposureRestrictive(t *testing.T) {
	c := newClock()
	s := testStore(t, natstest.JetStream(t), c, time.Hour)
	exposed := func(name, id, partners string) Registration {
		r := reg(name, id, "127.0.0.1:2", 60000, "http /admin")
		r.Content.Services[0].Flags = FlagCommunal
		if partners != "" {
			r.Content.Services[0].Attrs = map[string]string{AttrPartners: partners}
		}
		return r
	}
	check := func(what string, wantExposed bool, wantPartners string) {
		t.Helper()
		r, ok := s.Match("/admin", ProtoHTTP)
		if !ok || r.Exposed != wantExposed || strings.Join(r.Partners, ",") != wantPartners {
			t.Fatalf("%s: exposed %v partners %q, want %v %q", what, r.Exposed, r.Partners, wantExposed, wantPartners)
		}
	}
	register(t, s, reg("admin", "i1", "127.0.0.1:1", 60000, "http /admin"))
	check("private alone", false, "")
	c.advance(time.Second)
	register(t, s, exposed("admin2", "i2", ""))
	check("private and a newer exposed one", false, "")
	c.advance(time.Second)
	register(t, s, reg("admin", "i1", "127.0.0.1:1", 60000, "http /admin"))
	check("after the private one's heartbeat", false, "")
	if err := s.Unregister(context.Background(), "admin", "i1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the private one gone", func() bool { r, _ := s.Match("/admin", ProtoHTTP); return len(r.Instances) == 1 })
	check("exposed alone", true, "")
	register(t, s, exposed("admin3", "i3", "node-b,node-c"))
	check("one restricts", true, "node-b,node-c")
	register(t, s, exposed("admin4", "i4", "node-c,node-d"))
	check("two restrict", true, "node-c")
	register(t, s, exposed("admin5", "i5", "node-d"))
	check("restrictions leave none", false, "")
}

// TestSharedInstanceID: two registrations of one urn sharing an
// instance_id are two instances with distinct Keys (finding 3).
func TestSharedInstanceID(t *testing.T) {
	s := testStore(t, natstest.JetStream(t), newClock(), time.Hour)
	register(t, s, reg("blue", "10.0.0.5:8080", "127.0.0.1:1", 60000, "http /predict"))
	register(t, s, reg("green", "10.0.0.5:8080", "127.0.0.1:2", 60000, "http /predict"))
	r, ok := s.Match("/predict", ProtoHTTP)
	if !ok || len(r.Instances) != 2 || r.Instances[0].Key == r.Instances[1].Key ||
		r.Instances[0].Key != key("blue", "10.0.0.5:8080") || r.Instances[1].Address != "127.0.0.1:2" {
		t.Fatalf("route %+v", r)
	}
}

// TestExpiryStopsMatching: an instance past its expiry leaves the route at
// once (the clock checked at call time), the route goes when none is
// left, and a re-registration (heartbeat) renews it.
func TestExpiryStopsMatching(t *testing.T) {
	c := newClock()
	s := testStore(t, natstest.JetStream(t), c, time.Hour)
	register(t, s, reg("svc", "short", "127.0.0.1:1", 1000, "http /x"))
	register(t, s, reg("svc", "long", "127.0.0.1:2", 5000, "http /x"))
	if got := matched(s, "/x", ProtoHTTP); got != "/x=long,short" {
		t.Fatalf("before expiry: %q", got)
	}
	c.advance(2 * time.Second)
	if got := matched(s, "/x", ProtoHTTP); got != "/x=long" {
		t.Fatalf("after the short one expired: %q", got)
	}
	if n := len(s.List()); n != 1 {
		t.Fatalf("listed %d registrations, want 1", n)
	}
	register(t, s, reg("svc", "long", "127.0.0.1:2", 5000, "http /x")) // heartbeat
	c.advance(4 * time.Second)
	if got := matched(s, "/x", ProtoHTTP); got != "/x=long" {
		t.Fatalf("renewed one after its first expiry: %q", got)
	}
	c.advance(2 * time.Second)
	if got := matched(s, "/x", ProtoHTTP); got != "" || len(s.Routes()) != 0 {
		t.Fatalf("after every expiry: %q, %d routes", got, len(s.Routes()))
	}
}

// TestSweeperDeletes: the sweeper deletes an expired registration's key
// and the change is announced; the unexpired one stays.
func TestSweeperDeletes(t *testing.T) {
	js := natstest.JetStream(t)
	c := newClock()
	s := testStore(t, js, c, 10*time.Millisecond)
	register(t, s, reg("svc", "gone", "127.0.0.1:1", 1000, "http /x"))
	register(t, s, reg("svc", "kept", "127.0.0.1:2", 60000, "http /x"))
	changed := s.Changed()
	c.advance(2 * time.Second)
	kv, err := js.KeyValue(context.Background(), natsnames.RegistryBucket)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sweeper to delete the expired key", func() bool {
		_, err := kv.Get(context.Background(), key("svc", "gone"))
		return err != nil
	})
	<-changed
	if _, err := kv.Get(context.Background(), key("svc", "kept")); err != nil {
		t.Fatalf("unexpired key: %v", err)
	}
}

// TestSweepSparesRenewed: a sweep working from an old view (the entry
// expired as it saw it) does not delete a registration renewed since.
func TestSweepSparesRenewed(t *testing.T) {
	js := natstest.JetStream(t)
	c := newClock()
	s := testStore(t, js, c, time.Hour)
	register(t, s, reg("svc", "i", "127.0.0.1:1", 1000, "http /x"))
	stale := s.table.Load().entries
	c.advance(2 * time.Second)
	register(t, s, reg("svc", "i", "127.0.0.1:1", 1000, "http /x")) // heartbeat on another replica, say
	s.sweep(stale)
	kv, err := js.KeyValue(context.Background(), natsnames.RegistryBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(context.Background(), key("svc", "i")); err != nil {
		t.Fatalf("renewed registration after a stale sweep: %v", err)
	}
}

// TestMirrorHA: two stores on one NATS (two replicas) route identically:
// a registration on one is matched on the other, an unregister too.
func TestMirrorHA(t *testing.T) {
	js := natstest.JetStream(t)
	c := newClock()
	a, b := testStore(t, js, c, time.Hour), testStore(t, js, c, time.Hour)
	changed := b.Changed()
	register(t, a, reg("svc", "i", "127.0.0.1:1", 60000, "http /ha/*"))
	<-changed
	waitFor(t, "replica b to route /ha/x", func() bool { return matched(b, "/ha/x", ProtoHTTP) == "/ha/*=i" })
	if err := a.Unregister(context.Background(), "svc", "i"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to drop /ha/x", func() bool { return matched(b, "/ha/x", ProtoHTTP) == "" })
	if c, _ := ptp.Describe(b.Unregister(context.Background(), "svc", "i")); c != ptp.NotFound {
		t.Fatalf("unregister twice: %s", c)
	}
}

// TestReopen: a store opened again (a restart) routes by what was stored.
func TestReopen(t *testing.T) {
	js := natstest.JetStream(t)
	c := newClock()
	first := testStore(t, js, c, time.Hour)
	st := register(t, first, reg("svc", "i", "127.0.0.1:1", 60000, "grpc /pkg.S/"))
	first.Close()
	again := testStore(t, js, c, time.Hour)
	if got := matched(again, "/pkg.S/M", ProtoGRPC); got != "/pkg.S/=i" {
		t.Fatalf("after reopening: %q", got)
	}
	l := again.List()
	if len(l) != 1 || !l[0].Expires.Equal(st.Expires) || l[0].Name != "svc" {
		t.Fatalf("listed %+v", l)
	}
}

// TestRegisterValidates: Register refuses what ParseRegistration would,
// and stores nothing then.
func TestRegisterValidates(t *testing.T) {
	s := testStore(t, natstest.JetStream(t), newClock(), time.Hour)
	_, err := s.Register(context.Background(), reg("svc", "i", "127.0.0.1:1", 60000, "http /v1/interconn/chan/push"))
	if c, _ := ptp.Describe(err); c != ptp.BadRequest || len(s.List()) != 0 {
		t.Fatalf("register a reserved urn: %v, %d listed", err, len(s.List()))
	}
}

// TestKeysEscaped: names and instance ids with dots, colons and slashes
// make distinct keys.
func TestKeysEscaped(t *testing.T) {
	s := testStore(t, natstest.JetStream(t), newClock(), time.Hour)
	for i, id := range []string{"10.0.0.1:80", "10.0.0.1.80", "a/b", "a=2Fb"} {
		register(t, s, reg("n.x", id, fmt.Sprintf("127.0.0.1:%d", i+1), 60000, "http /k"))
	}
	if n := len(s.List()); n != 4 {
		t.Fatalf("listed %d, want 4", n)
	}
}

// TestListingHealth: each service of a registration is listed with the
// health hook's answer for its route and instance; no hook: unknown.
func TestListingHealth(t *testing.T) {
	st := Stored{Registration: reg("svc", "i", "127.0.0.1:1", 60000, "http /up", "grpc /pkg.S/")}
	hook := func(route, id string) (string, string) {
		if route == "http /up" && id == key("svc", "i") {
			return Healthy, "checked " + route
		}
		return Unhealthy, "checked " + route
	}
	got := st.Listing(hook).Instances
	if len(got) != 2 || got[0].Health() != Healthy || got[1].Health() != Unhealthy || got[0].Detail != "checked http /up" ||
		got[1].Route != "grpc /pkg.S/" || got[1].Address != "127.0.0.1:1" {
		t.Fatalf("listing %+v", got)
	}
	if l := st.Listing(nil).Instances; len(l) != 2 || l[0].Health() != Unknown || l[1].Health() != Unknown {
		t.Fatalf("listing without a hook %+v", l)
	}
}
