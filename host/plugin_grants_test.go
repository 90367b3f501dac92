package host_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The hostile guests of these tests (host/plugin/testdata/hostile).
const (
	grantsGuest = "host/plugin/testdata/hostile/grants"
	authGuest   = "host/plugin/testdata/hostile/auth"
)

// startLogged starts a node whose log the test reads.
func startLogged(t *testing.T) (*meshtest.Node, *meshtest.Log) {
	t.Helper()
	log := &meshtest.Log{}
	return meshtest.Start(t, host.Config{Logger: log.Logger()}), log
}

// attempt asks the grants guest on n to try path with the query kv pairs
// (and body, POSTed when given), returning the HTTP status and body.
func attempt(t *testing.T, n *meshtest.Node, path string, body []byte, kv ...string) (int, string) {
	t.Helper()
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, n.URL+"/grants/"+path+"?"+q.Encode(), rd)
	return meshtest.Fetch(t, nil, req)
}

// mustSay fails unless the guest's answer starts with want ("ok" or
// "error").
func mustSay(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.HasPrefix(got, want+":") {
		t.Fatalf("%s: the guest says %q, want %s", what, got, want)
	}
}

// TestPluginGrantSymlinkEscape: a plugin on a read-write grant cannot make
// links out of it (relative ../../ or absolute), and no link out of a
// read-write or read-only grant — its own or planted by anyone — is
// followed; the secret beside the grant stays unread. Links inside the
// grant work, and a read-only grant refuses writes.
func TestPluginGrantSymlinkEscape(t *testing.T) {
	wasm := plugintest.Build(t, grantsGuest)
	base := t.TempDir()
	rw, ro := filepath.Join(base, "rw"), filepath.Join(base, "ro")
	const secret = "secret beside the grant"
	for _, d := range []string{rw, ro} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(base, "secret.txt"), secret)
	write(t, filepath.Join(ro, "readme.txt"), "in the read-only grant")
	// Links out, as a plugin on an unguarded mount (or anyone) left them.
	for _, dir := range []string{rw, ro} {
		link(t, "..", filepath.Join(dir, "up"))
		link(t, base, filepath.Join(dir, "abs"))
	}
	n := meshtest.Start(t, host.Config{})
	n.Install(t, "grants", wasm, nil, plugin.Options{Prefixes: []string{"/grants/"},
		AllowPaths: map[string]string{plugin.PathReadWrite + rw: "/data", ro: "/ro"}}, ptp.OK)

	// What the grants are for still works.
	_, got := attempt(t, n, "write", []byte("mine"), "path", "/data/mine.txt")
	mustSay(t, "write inside the rw grant", got, "ok")
	_, got = attempt(t, n, "symlink", nil, "target", "mine.txt", "link", "/data/alias")
	mustSay(t, "a link inside the grant", got, "ok")
	if _, got = attempt(t, n, "read", nil, "path", "/data/alias"); got != "ok: mine" {
		t.Fatalf("read through a link inside the grant: %q", got)
	}
	if _, got = attempt(t, n, "read", nil, "path", "/ro/readme.txt"); got != "ok: in the read-only grant" {
		t.Fatalf("read in the ro grant: %q", got)
	}
	_, got = attempt(t, n, "write", []byte("x"), "path", "/ro/new.txt")
	mustSay(t, "write in the ro grant", got, "error")

	// Making links out of the grant is refused.
	for _, target := range []string{"../../", "..", "../secret.txt", "/", base, filepath.Join(base, "secret.txt")} {
		_, got = attempt(t, n, "symlink", nil, "target", target, "link", "/data/link")
		mustSay(t, "symlink /data/link -> "+target, got, "error")
		if _, err := os.Lstat(filepath.Join(rw, "link")); err == nil {
			t.Fatalf("symlink /data/link -> %s was made on the node's disk", target)
		}
	}
	// No way out is followed, from either grant.
	for _, p := range []string{"/data/link/secret.txt", "/data/up/secret.txt", "/data/abs/secret.txt",
		"/ro/up/secret.txt", "/ro/abs/secret.txt", "/data/../secret.txt", "/ro/../secret.txt"} {
		_, got = attempt(t, n, "read", nil, "path", p)
		if strings.Contains(got, secret) {
			t.Fatalf("read %s: the guest read the secret beside its grant: %q", p, got)
		}
		mustSay(t, "read "+p, got, "error")
	}
	_, got = attempt(t, n, "list", nil, "path", "/data/up")
	mustSay(t, "list /data/up", got, "error")
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// countingServer is an upstream that counts its connections and requests.
type countingServer struct {
	*httptest.Server
	conns, hits atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// TestPluginGrantHostAndPort: --allow-host 127.0.0.1:PORT1 reaches that
// port and not another port of the same host (no connection is even
// made); an entry without a port means port 80/443 only.
func TestPluginGrantHostAndPort(t *testing.T) {
	wasm := plugintest.Build(t, grantsGuest)
	one := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from one") })
	two := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "from two") })
	n := meshtest.Start(t, host.Config{})
	install := func(hosts ...string) {
		n.Install(t, "grants", wasm, nil, plugin.Options{Prefixes: []string{"/grants/"}, AllowHosts: hosts}, ptp.OK)
	}
	install(one.Listener.Addr().String())
	if _, got := attempt(t, n, "http", nil, "url", one.URL+"/x"); got != "ok: status=200\nfrom one" {
		t.Fatalf("granted host and port: %q", got)
	}
	status, got := attempt(t, n, "http", nil, "url", two.URL+"/x")
	if status != http.StatusInternalServerError || strings.Contains(got, "from two") {
		t.Fatalf("same host, another port: %d %q", status, got)
	}
	install("127.0.0.1") // no port: 80 for http
	status, got = attempt(t, n, "http", nil, "url", one.URL+"/x")
	if status != http.StatusInternalServerError || strings.Contains(got, "from one") {
		t.Fatalf("a grant without a port reached port %s: %d %q", one.URL, status, got)
	}
	if c, h := two.conns.Load(), two.hits.Load(); c != 0 || h != 0 {
		t.Fatalf("the port not granted saw %d connections, %d requests", c, h)
	}
	if h := one.hits.Load(); h != 1 {
		t.Fatalf("the granted port saw %d requests, want 1", h)
	}
}

// TestPluginGrantRedirect: a granted upstream's 307 to the node's own
// control endpoint is not followed — the guest gets the 307 and the route
// table is unchanged — while a redirect inside the grant is followed.
func TestPluginGrantRedirect(t *testing.T) {
	wasm := plugintest.Build(t, grantsGuest)
	n := meshtest.Start(t, host.Config{})
	var up *countingServer
	up = newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/escape":
			http.Redirect(w, r, n.URL+"/v1/interconn/net/refresh", http.StatusTemporaryRedirect)
		case "/hop":
			http.Redirect(w, r, up.URL+"/final", http.StatusTemporaryRedirect)
		default:
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, "final "+string(b))
		}
	})
	n.Install(t, "grants", wasm, nil, plugin.Options{Prefixes: []string{"/grants/"}, AllowHosts: []string{up.Listener.Addr().String()}}, ptp.OK)
	evil := []byte(`{"node_id":"evil","address":"http://127.0.0.1:9","allow_plaintext":true}`)
	// The control endpoint takes this body from a loopback caller...
	n.Control(t, "/v1/interconn/net/refresh", json.RawMessage(bytes.ReplaceAll(evil, []byte("evil"), []byte("probe"))), ptp.OK)
	before := meshtest.Get(t, n.URL+"/v1/interconn/net").Body

	// ...but not through a plugin's redirect.
	_, got := attempt(t, n, "http", evil, "method", "POST", "url", up.URL+"/escape")
	if !strings.HasPrefix(got, "ok: status=307") {
		t.Fatalf("redirect out of the grant: the guest got %q, want the 307 itself", got)
	}
	if after := meshtest.Get(t, n.URL+"/v1/interconn/net").Body; after != before || n.RouteState(t, "evil") != "" {
		t.Fatalf("the redirect reached the control endpoint: routes %s, were %s", after, before)
	}
	if _, got = attempt(t, n, "http", []byte("body"), "method", "POST", "url", up.URL+"/hop"); got != "ok: status=200\nfinal body" {
		t.Fatalf("redirect inside the grant: %q", got)
	}
}

var refPattern = regexp.MustCompile(`ref ([0-9a-f]{8})`)

// TestPluginFailureHidesGuestText: a route handler or auth policy whose
// failure (error, panic, garbage answer) carries its secret configuration
// answers its caller — a container of the node or a remote partner — with
// the plugin's name and a reference, never the secret; the node's log has
// the full text under that reference. A partner refused by a policy is not
// told the policy's reason; a container is.
func TestPluginFailureHidesGuestText(t *testing.T) {
	const secret = "s3cr3t-config-value"
	grants, evil := plugintest.Build(t, grantsGuest), plugintest.Build(t, authGuest)
	a, _ := startLogged(t)
	b, blog := startLogged(t)
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)

	b.Install(t, "grants", grants, map[string]string{"secret": secret}, plugin.Options{Prefixes: []string{"/grants/"}}, ptp.OK)
	for _, p := range []string{"fail", "panic", "garbage"} {
		status, got := attempt(t, b, p, nil)
		if status != http.StatusInternalServerError || !strings.Contains(got, "route handler grants failed") {
			t.Fatalf("%s: %d %q", p, status, got)
		}
		hidden(t, "container calling a route handler that "+p+"s", got, secret, blog)
	}

	for _, mode := range []string{"leak", "leakpanic"} {
		b.Install(t, "evil", evil, map[string]string{"mode": mode, "secret": secret}, plugin.Options{}, ptp.OK)
		r := meshtest.Post(t, b.URL, "/v1/interconn/chan/push", meshtest.Session("s", ptp.HeaderTopic, "t"), map[string]any{"payload": []byte("x")})
		if r.Code != ptp.Unauthorized || !strings.Contains(r.Body, "auth policy evil failed") {
			t.Fatalf("%s, container: %s", mode, r.Body)
		}
		hidden(t, "container refused by a policy that "+mode+"s", r.Body, secret, blog)
		r = meshtest.Post(t, a.URL, "/v1/interconn/chan/push", meshtest.Session("s", ptp.HeaderTopic, "t", ptp.HeaderTargetNodeID, "node-b"),
			map[string]any{"payload": []byte("x")})
		if r.Code == ptp.OK || !strings.Contains(r.Body, "evil") {
			t.Fatalf("%s, partner: %s", mode, r.Body)
		}
		hidden(t, "partner refused by a policy that "+mode+"s", r.Body, secret, blog)
	}

	b.Install(t, "evil", evil, map[string]string{"mode": "deny"}, plugin.Options{}, ptp.OK)
	r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push", meshtest.Session("d", ptp.HeaderTopic, "t", ptp.HeaderTargetNodeID, "node-b"),
		map[string]any{"payload": []byte("x")})
	if r.Code == ptp.OK || strings.Contains(r.Body, "hostile: deny") || !strings.Contains(r.Body, "refused by auth policy evil") {
		t.Fatalf("partner refused: %s", r.Body)
	}
	r = meshtest.Post(t, b.URL, "/v1/interconn/chan/push", meshtest.Session("d", ptp.HeaderTopic, "t"), map[string]any{"payload": []byte("x")})
	if r.Code != ptp.Unauthorized || !strings.Contains(r.Body, "refused by auth policy evil: hostile: deny") {
		t.Fatalf("container refused: %s", r.Body)
	}
}

// hidden checks a reply names a reference and not the secret, and that
// the node's log has both.
func hidden(t *testing.T, what, reply, secret string, log *meshtest.Log) {
	t.Helper()
	if strings.Contains(reply, secret) {
		t.Fatalf("%s: the reply carries the plugin's secret: %s", what, reply)
	}
	m := refPattern.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("%s: the reply gives no reference: %s", what, reply)
	}
	meshtest.WaitFor(t, defaultLogWait, what+": the failure in the node's log", func() bool {
		l := log.String()
		return strings.Contains(l, "ref="+m[1]) && strings.Contains(l, secret)
	})
}

const defaultLogWait = 10 * time.Second

// TestRouteHandlerAuthPolicy: auth policies run before route handlers, on
// the HTTP path and on an invoke's x-ptp-uri, with the request's method,
// path and caller; a policy that refuses a path refuses it, one that
// admits admits, and a failing policy refuses (fail closed).
func TestRouteHandlerAuthPolicy(t *testing.T) {
	rt, evil, tok := plugintest.Build(t, "plugins/route"), plugintest.Build(t, authGuest), plugintest.Build(t, "plugins/token")
	n := meshtest.Start(t, host.Config{})
	n.Install(t, "custom", rt, map[string]string{"routes": "/hello=respond:200:hello;/open=respond:200:open"},
		plugin.Options{Prefixes: []string{"/hello", "/open"}}, ptp.OK)
	get := func(path string, headers ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, n.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return meshtest.Fetch(t, nil, req)
	}
	if s, b := get("/hello"); s != 200 || b != "hello" {
		t.Fatalf("before any policy: %d %q", s, b)
	}
	n.Install(t, "gate", evil, map[string]string{"mode": "pathdeny", "deny_path": "/hello"}, plugin.Options{}, ptp.OK)
	if s, b := get("/hello"); s != http.StatusForbidden || !strings.Contains(b, "hostile: saw GET /hello from a container") {
		t.Fatalf("a path the policy refuses: %d %q", s, b)
	}
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/invoke", map[string]string{ptp.HeaderURI: "/hello"}, "x")
	if r.Code != ptp.Unauthorized || !strings.Contains(r.Body, "hostile: saw POST /hello from a container") {
		t.Fatalf("an invoke for a path the policy refuses: %s", r.Body)
	}
	if s, b := get("/open"); s != 200 || b != "open" {
		t.Fatalf("a path the policy admits: %d %q", s, b)
	}
	n.Install(t, "tokens", tok, map[string]string{"tokens": "good-token"}, plugin.Options{}, ptp.OK)
	if s, b := get("/open"); s != http.StatusForbidden || !strings.Contains(b, "missing") {
		t.Fatalf("no token: %d %q", s, b)
	}
	if s, b := get("/open", ptp.HeaderToken, "good-token"); s != 200 || b != "open" {
		t.Fatalf("good token: %d %q", s, b)
	}
	n.Install(t, "gate", evil, map[string]string{"mode": "trap"}, plugin.Options{TimeoutMs: 300}, ptp.OK)
	if s, b := get("/open", ptp.HeaderToken, "good-token"); s != http.StatusForbidden || !strings.Contains(b, "auth policy gate failed") {
		t.Fatalf("a failing policy: %d %q", s, b)
	}
}
