package proxy_test

import (
	"cmp"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// table is a tiny in-test route table implementing registry.Matcher.
type table struct {
	mu     sync.Mutex
	routes map[string]registry.Route
	ch     chan struct{}
}

func newTable(routes ...registry.Route) *table {
	t := &table{routes: map[string]registry.Route{}, ch: make(chan struct{})}
	for _, r := range routes {
		t.set(r)
	}
	return t
}

// set adds or replaces a route and signals the change.
func (t *table) set(r registry.Route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.routes[r.Key] = r
	close(t.ch)
	t.ch = make(chan struct{})
}

func (t *table) Match(path, proto string) (registry.Route, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best registry.Route
	found := false
	for _, r := range t.routes {
		hit := r.URN == path || (r.Prefix && strings.HasPrefix(path, strings.TrimSuffix(r.URN, "*")))
		if r.Proto == proto && hit && (!found || len(r.URN) > len(best.URN)) {
			best, found = r, true
		}
	}
	return best, found
}

func (t *table) Routes() []registry.Route {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]registry.Route, 0, len(t.routes))
	for _, r := range t.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b registry.Route) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

func (t *table) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ch
}

// route is a route of proto at urn over the given instance addresses,
// named i0, i1, …, checked every 50ms with threshold 2.
func route(proto, urn string, addrs ...string) registry.Route {
	r := registry.Route{Key: proto + " " + urn, URN: urn, Proto: proto, Prefix: strings.HasSuffix(urn, "/*"),
		Health: registry.HealthCheck{Interval: 50 * time.Millisecond, Threshold: 2}}
	for i, a := range addrs {
		r.Instances = append(r.Instances, registry.Instance{ID: "i" + string(rune('0'+i)), Address: a, Expires: time.Now().Add(time.Hour)})
	}
	return r
}

// newProxy starts a proxy over tbl, closed at the end of the test.
func newProxy(t testing.TB, tbl *table) *proxy.Proxy {
	p := proxy.New(proxy.Config{Routes: tbl})
	t.Cleanup(p.Close)
	return p
}

// front serves the proxy the way the node does: match, ServeHTTP, and
// answer a returned error with its PTP code (header X-Ptp-Code).
func front(t testing.TB, p *proxy.Proxy, tbl *table) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := tbl.Match(r.URL.Path, registry.ProtoHTTP)
		if !ok {
			w.Header().Set("X-Ptp-Code", string(ptp.NoSuchService))
			http.Error(w, "no such service", http.StatusNotFound)
			return
		}
		if err := p.ServeHTTP(w, r, rt); err != nil {
			code, msg := ptp.Describe(err)
			w.Header().Set("X-Ptp-Code", string(code))
			http.Error(w, msg, code.HTTP())
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// backend is a real upstream HTTP server that counts its requests.
type backend struct {
	srv  *httptest.Server
	addr string
	hits atomic.Int64
}

// newBackend serves h (or, when nil, answers its own name) on 127.0.0.1:0.
func newBackend(t testing.TB, name string, h http.HandlerFunc) *backend {
	b := &backend{}
	b.start(t, name, h, "127.0.0.1:0")
	return b
}

// start (re)starts the backend on addr.
func (b *backend) start(t testing.TB, name string, h http.HandlerFunc, addr string) {
	if h == nil {
		h = func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h(w, r)
	}))
	b.srv.Listener.Close()
	b.srv.Listener = ln
	b.srv.Start()
	b.addr = ln.Addr().String()
	t.Cleanup(b.srv.Close)
}

// kill cuts every connection and stops the server.
func (b *backend) kill() {
	b.srv.CloseClientConnections()
	b.srv.Close()
}

// get fetches url and returns the status, PTP code header and body.
func get(t testing.TB, url string) (int, string, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return res.StatusCode, res.Header.Get("X-Ptp-Code"), string(body)
}

// deadAddr is a loopback address nothing listens on: port 1, which no
// listener on 127.0.0.1:0 is ever given (a freed ephemeral port could come
// back as the front's own, and the proxy would call itself).
func deadAddr(testing.TB) string { return "127.0.0.1:1" }

// statsOf is the proxy's stats of one route key.
func statsOf(p *proxy.Proxy, key string) proxy.RouteStats {
	for _, s := range p.Stats() {
		if s.Route == key {
			return s
		}
	}
	return proxy.RouteStats{}
}

// waitFor polls cond, bounded by d. (meshtest.WaitFor would pull the whole
// host into this package's tests.)
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// healthOf is p's health of an instance as the picker sees it: true unless
// unhealthy (an instance not checked yet is tried).
func healthOf(p *proxy.Proxy, routeKey, id string) (bool, string) {
	state, detail := p.Health(routeKey, id)
	return state != registry.Unhealthy, detail
}
