package host_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

const (
	key1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	key2 = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)

func TestMain(m *testing.M) {
	code := m.Run()
	plugintest.Cleanup() // the plugins built from source for these tests
	meshtest.Cleanup()   // and their code, compiled once for every node
	os.Exit(code)
}

// compressible is n bytes of text that gzip shrinks a lot.
func compressible(n int) []byte {
	line := []byte("tensor block 0042: 0.000 0.000 0.125 0.250 0.500 1.000\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

// TestGzipCodecAcrossNodes: with the gzip codec on the route, a payload
// arrives byte-exact and what crossed the wire was compressed. The route
// goes through a recording proxy in plaintext so the test sees the bytes.
func TestGzipCodecAcrossNodes(t *testing.T) {
	gz := plugintest.Build(t, "plugins/gzip")
	a, b := pair(t, nil)
	a.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	b.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	rec := meshtest.Record(t, b.Addr)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": "http://" + rec.Addr,
		"allow_plaintext": true, "codec": "gzip"}, ptp.OK)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)

	payload := compressible(1 << 20)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "gz", Target: "node-b", Raw: true}
	if code, err := c.Push(t.Context(), "t", payload); code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "gz", Raw: true}).Pop(t.Context(), "t", 5000)
	if code != ptp.OK || !bytes.Equal(got, payload) {
		t.Fatalf("pop at B: %s, %d bytes, equal %v", code, len(got), bytes.Equal(got, payload))
	}
	wire := rec.Bytes()
	if len(wire) > len(payload)/10 || bytes.Contains(wire, payload[:4096]) {
		t.Fatalf("%d bytes crossed the wire for a %d-byte payload; want the compressed form", len(wire), len(payload))
	}
	t.Logf("1 MiB of text crossed as %d bytes", len(wire))
}

// TestAESCodecKeysMustMatch: AES-GCM with the same key on both nodes
// carries messages; with different keys B cannot decode and A's caller gets
// 616; a node without the codec answers 616 too.
func TestAESCodecKeysMustMatch(t *testing.T) {
	aes := plugintest.Build(t, "plugins/aesgcm")
	a, b := pair(t, map[string]any{"codec": "aes"})
	c := &meshtest.HTTPClient{URL: a.URL, Session: "aes", Target: "node-b", Raw: true}
	a.Install(t, "aes", aes, map[string]string{"key": key1}, plugin.Options{}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("before B has it")); code != ptp.CodecError {
		t.Fatalf("push to a node without the codec: %s, want %s", code, ptp.CodecError)
	}
	b.Install(t, "aes", aes, map[string]string{"key": key1}, plugin.Options{}, ptp.OK)
	secret := []byte("model weights, layer 7")
	if code, err := c.Push(t.Context(), "t", secret); code != ptp.OK {
		t.Fatalf("push with matching keys: %s %v", code, err)
	}
	if got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "aes", Raw: true}).Pop(t.Context(), "t", 5000); !bytes.Equal(got, secret) {
		t.Fatalf("pop: %q %s", got, code)
	}
	b.Install(t, "aes", aes, map[string]string{"key": key2}, plugin.Options{}, ptp.OK)
	r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push", meshtest.Session("aes", ptp.HeaderTargetNodeID, "node-b", ptp.HeaderTopic, "t"),
		map[string]any{"payload": secret})
	if r.Code != ptp.CodecError || !strings.Contains(string(r.Body), "aes") {
		t.Fatalf("push with mismatched keys: %s", r.Body)
	}
	// A bad key is refused at install, and the running codec stays.
	b.Install(t, "aes", aes, map[string]string{"key": "short"}, plugin.Options{}, ptp.BadRequest)
	if rec := pluginRecord(t, b, "aes"); rec.State != "enabled" {
		t.Fatalf("after a failed reinstall: %+v", rec)
	}
}

func pluginRecord(t *testing.T, n *meshtest.Node, name string) plugin.Record {
	t.Helper()
	var rec plugin.Record
	meshtest.Get(t, n.URL+"/v1/interconn/plugin/"+name).Decode(t, &rec)
	return rec
}

// TestTokenPolicy: the token policy refuses a missing, unknown or expired
// token with 403 and a reason, admits a good one, and leaves partners'
// deliveries alone.
func TestTokenPolicy(t *testing.T) {
	tok := plugintest.Build(t, "plugins/token")
	a, b := pair(t, nil)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	b.Install(t, "tokens", tok, map[string]string{"tokens": "good-token,old-token@" + past}, plugin.Options{}, ptp.OK)
	for _, tc := range []struct {
		token, want string
		code        ptp.Code
	}{
		{"", "missing", ptp.Unauthorized},
		{"nope", "unknown", ptp.Unauthorized},
		{"old-token", "expired", ptp.Unauthorized},
		{"good-token", "", ptp.OK},
	} {
		h := meshtest.Session("tok", ptp.HeaderTopic, "t", ptp.HeaderToken, tc.token)
		r := meshtest.Post(t, b.URL, "/v1/interconn/chan/push", h, map[string]any{"payload": []byte("x")})
		if r.Code != tc.code || !strings.Contains(string(r.Body), tc.want) {
			t.Fatalf("token %q: %s", tc.token, r.Body)
		}
	}
	// A's delivery is a partner's, proven by its certificate.
	if code, err := (&meshtest.HTTPClient{URL: a.URL, Session: "tok", Target: "node-b"}).Push(t.Context(), "t", []byte("from A")); code != ptp.OK {
		t.Fatalf("partner push through a token policy: %s %v", code, err)
	}
}

// TestRouteHandler: a route plugin answers a custom path itself, forwards
// another to a local upstream, and leaves the node's own endpoints alone.
func TestRouteHandler(t *testing.T) {
	rt := plugintest.Build(t, "plugins/route")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "upstream saw %s %s %s", r.Method, r.URL.Path, body)
	}))
	defer upstream.Close()
	n := meshtest.Start(t, host.Config{})
	n.Install(t, "custom", rt, map[string]string{"routes": "/hello=respond:200:Hello from mesh;/api/=forward:" + upstream.URL},
		plugin.Options{Prefixes: []string{"/hello", "/api/"}}, ptp.OK)
	resp, err := http.Get(n.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello from mesh" {
		t.Fatalf("GET /hello: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Post(n.URL+"/api/models", "text/plain", strings.NewReader("ping"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "upstream saw POST /api/models ping" {
		t.Fatalf("forwarded: %d %q", resp.StatusCode, body)
	}
	// The node's endpoints cannot be claimed.
	n.Install(t, "greedy", rt, nil, plugin.Options{Prefixes: []string{"/v1/interconn/chan"}}, ptp.BadRequest)
	if r := meshtest.Get(t, n.URL+"/healthz"); r.Code != ptp.OK {
		t.Fatalf("healthz: %s", r.Body)
	}
}

// TestHotReplaceUnderLoad: 8 clients push continuously through A to B,
// with gzip on the route, while the codec is installed again and again
// with other settings on both nodes. No push fails and none is lost, and
// pushes did overlap the installs: some push finished while one ran.
func TestHotReplaceUnderLoad(t *testing.T) {
	gz := plugintest.Build(t, "plugins/gzip")
	a, b := pair(t, map[string]any{"codec": "gzip"})
	a.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	b.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	// The workers push until the installs are done; perWorker only bounds
	// the drain below should the installs be slow.
	const workers, perWorker = 8, 1000
	var (
		stop   atomic.Bool
		pushed atomic.Int64
		wg     sync.WaitGroup
		errs   = make(chan string, workers)
	)
	for w := range workers {
		wg.Go(func() {
			c := &meshtest.HTTPClient{URL: a.URL, Session: "hot", Target: "node-b", Raw: true}
			for i := 0; !stop.Load() && i < perWorker; i++ {
				if code, err := c.Push(t.Context(), fmt.Sprint("w", w), fmt.Appendf(nil, "%d-%d", w, i)); code != ptp.OK {
					errs <- fmt.Sprintf("worker %d push %d: %s %v", w, i, code, err)
					return
				}
				pushed.Add(1)
			}
		})
	}
	meshtest.WaitFor(t, 30*time.Second, "every worker's first push", func() bool { return pushed.Load() >= workers })
	overlapped := 0
	for i := range 6 {
		level := fmt.Sprint(1 + i%9)
		for _, n := range []*meshtest.Node{a, b} {
			before := pushed.Load()
			n.Install(t, "gzip", gz, map[string]string{"level": level}, plugin.Options{Pool: 2 + i%3}, ptp.OK)
			if pushed.Load() > before {
				overlapped++ // a push finished during the install: it was in flight across the swap
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if overlapped == 0 {
		t.Fatalf("no push finished during any of the 12 installs (%d pushes): the test did not replace under load", pushed.Load())
	}
	popped := drainHot(t, b, workers)
	if int64(popped) != pushed.Load() || popped == 0 {
		t.Fatalf("pushed %d, popped %d", pushed.Load(), popped)
	}
	t.Logf("%d pushes across 12 installs (%d of them with pushes in flight), none failed or lost", popped, overlapped)
}

// drainHot pops every worker's topic at b in order, checking each message
// is the next one that worker pushed, and returns how many it popped.
func drainHot(t *testing.T, b *meshtest.Node, workers int) int {
	t.Helper()
	popped := 0
	for w := range workers {
		c := &meshtest.HTTPClient{URL: b.URL, Session: "hot", Raw: true}
		for i := 0; ; i++ {
			got, code, _ := c.Peek(t.Context(), fmt.Sprint("w", w))
			if code != ptp.OK || len(got) == 0 { // raw: an empty queue answers no bytes
				break
			}
			peeked := got
			got, code, _ = c.Pop(t.Context(), fmt.Sprint("w", w), 1000)
			if want := fmt.Sprintf("%d-%d", w, i); string(got) != want {
				t.Fatalf("worker %d message %d: %q (%s; peeked %q), want %q", w, i, got, code, peeked, want)
			}
			popped++
		}
	}
	return popped
}

// TestHostileCodec: a codec that spins, traps, eats memory or answers
// garbage fails only the request that made it, with 616, and the node and
// the codec keep serving.
func TestHostileCodec(t *testing.T) {
	evil := plugintest.Build(t, "host/plugin/testdata/hostile/codec")
	a, b := pair(t, map[string]any{"codec": "evil"})
	opts := plugin.Options{TimeoutMs: 300, MaxMemoryMB: 64, Pool: 2}
	a.Install(t, "evil", evil, nil, opts, ptp.OK)
	b.Install(t, "evil", evil, nil, opts, ptp.OK)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "evil", Target: "node-b", Raw: true}
	for _, mode := range []string{"loop", "trap", "bomb", "garbage"} {
		h := meshtest.Session("evil", ptp.HeaderTargetNodeID, "node-b", ptp.HeaderTopic, "t")
		r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push", h, map[string]any{"payload": []byte(mode)})
		if r.Code != ptp.CodecError || !strings.Contains(string(r.Body), "evil") {
			t.Fatalf("%s: %s", mode, r.Body)
		}
		if code, err := c.Push(t.Context(), "t", []byte("fine after "+mode)); code != ptp.OK {
			t.Fatalf("push after %s: %s %v", mode, code, err)
		}
		if r := meshtest.Get(t, a.URL+"/healthz"); r.Code != ptp.OK {
			t.Fatalf("healthz after %s: %s", mode, r.Body)
		}
	}
	for _, mode := range []string{"loop", "trap", "bomb", "garbage"} {
		got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "evil", Raw: true}).Pop(t.Context(), "t", 5000)
		if string(got) != "fine after "+mode {
			t.Fatalf("pop: %q %s", got, code)
		}
	}
	var stats struct {
		Plugins map[string]plugin.Stats `json:"plugins"`
	}
	meshtest.Get(t, a.URL+"/stats").Decode(t, &stats)
	if s := stats.Plugins["evil"]; s.Discarded < 3 {
		t.Fatalf("instances discarded: %+v, want at least 3 (loop, trap, bomb)", s)
	}
}

// TestHostileAuthPolicy: a policy that spins or answers garbage refuses
// (fail closed) with a clear message; installed fail-open it admits.
func TestHostileAuthPolicy(t *testing.T) {
	evil := plugintest.Build(t, "host/plugin/testdata/hostile/auth")
	n := meshtest.Start(t, host.Config{})
	for _, mode := range []string{"loop", "trap", "bomb", "garbage"} {
		n.Install(t, "evil", evil, map[string]string{"mode": mode}, plugin.Options{TimeoutMs: 300, MaxMemoryMB: 64}, ptp.OK)
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("s", ptp.HeaderTopic, "t"), map[string]any{"payload": []byte("x")})
		if r.Code != ptp.Unauthorized || !strings.Contains(string(r.Body), "auth policy evil failed") {
			t.Fatalf("%s, fail closed: %s", mode, r.Body)
		}
		n.Install(t, "evil", evil, map[string]string{"mode": mode}, plugin.Options{TimeoutMs: 300, MaxMemoryMB: 64, FailOpen: true}, ptp.OK)
		r = meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("s", ptp.HeaderTopic, "t"), map[string]any{"payload": []byte("x")})
		if r.Code != ptp.OK {
			t.Fatalf("%s, fail open: %s", mode, r.Body)
		}
	}
}

// TestBadModulesChangeNothing: a file that is not wasm, a module of no
// kind, one whose memory exceeds the cap and a hash mismatch are refused
// with a clear message, and the running set is untouched.
func TestBadModulesChangeNothing(t *testing.T) {
	gz := plugintest.Build(t, "plugins/gzip")
	n := meshtest.Start(t, host.Config{})
	n.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	junk := make([]byte, 100)
	rand.Read(junk)
	for _, tc := range []struct {
		name string
		req  plugin.InstallRequest
		want string
	}{
		{"not wasm", plugin.InstallRequest{Name: "gzip", Wasm: junk}, "not a WebAssembly module"},
		{"wrong kind", plugin.InstallRequest{Name: "gzip", Wasm: readFile(t, gz), Kind: plugin.Auth}, "lacks the export"},
		{"memory", plugin.InstallRequest{Name: "gzip", Wasm: readFile(t, gz), Options: plugin.Options{MaxMemoryMB: 1}}, "memory"},
		{"hash", plugin.InstallRequest{Name: "gzip", Wasm: readFile(t, gz), SHA256: strings.Repeat("0", 64)}, "sha256 mismatch"},
		{"name", plugin.InstallRequest{Name: "../x", Wasm: readFile(t, gz)}, "name"},
	} {
		r := n.Control(t, "/v1/interconn/plugin/install", tc.req, ptp.BadRequest)
		if !strings.Contains(string(r.Body), tc.want) {
			t.Fatalf("%s: %s", tc.name, r.Body)
		}
	}
	var recs []plugin.Record
	meshtest.Get(t, n.URL+"/v1/interconn/plugin").Decode(t, &recs)
	if len(recs) != 1 || recs[0].Name != "gzip" || recs[0].State != "enabled" || recs[0].Kind != plugin.Codec {
		t.Fatalf("after bad installs: %+v", recs)
	}
}

// TestPluginsSurviveRestart: installed plugins are in the node's store and
// load again at start.
func TestPluginsSurviveRestart(t *testing.T) {
	aes := plugintest.Build(t, "plugins/aesgcm")
	home := t.TempDir()
	n := meshtest.Start(t, host.Config{Home: home})
	n.Install(t, "aes", aes, map[string]string{"key": key1}, plugin.Options{}, ptp.OK)
	n.Control(t, "/v1/interconn/plugin/disable", map[string]string{"name": "aes"}, ptp.OK)
	n.Install(t, "aes2", aes, map[string]string{"key": key2}, plugin.Options{}, ptp.OK)
	n.Stop(t)
	n = meshtest.Start(t, host.Config{Home: home})
	var recs []plugin.Record
	meshtest.Get(t, n.URL+"/v1/interconn/plugin").Decode(t, &recs)
	if len(recs) != 2 || recs[0].State != "disabled" || recs[1].State != "enabled" || recs[1].Config["key"] != "(hidden)" {
		t.Fatalf("after restart: %+v", recs)
	}
	n.Control(t, "/v1/interconn/plugin/remove", map[string]string{"name": "aes"}, ptp.OK)
	n.Control(t, "/v1/interconn/plugin/remove", map[string]string{"name": "aes"}, ptp.NotFound)
}

// TestNodesShareCompiledPlugins: the nodes of a test binary share one
// compilation cache (meshtest.PluginCache), so a module is compiled once and
// not once per node. The module is made unique to this run with a custom
// section, so the first install is a cold compile whatever ran before.
func TestNodesShareCompiledPlugins(t *testing.T) {
	gz := readFile(t, plugintest.Build(t, "plugins/gzip"))
	unique := withCustomSection(gz, "mesh-test", fmt.Appendf(nil, "%s %d", t.Name(), time.Now().UnixNano()))
	shared := meshtest.PluginCache(t)
	before := plugintest.CacheEntries(t, shared)
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{})
	a.Control(t, "/v1/interconn/plugin/install", plugin.InstallRequest{Name: "gz", Wasm: unique}, ptp.OK)
	if n := plugintest.CacheEntries(t, shared); n != before+1 {
		t.Fatalf("after the first install the shared cache holds %d modules, want %d", n, before+1)
	}
	b.Control(t, "/v1/interconn/plugin/install", plugin.InstallRequest{Name: "gz", Wasm: unique}, ptp.OK)
	if n := plugintest.CacheEntries(t, shared); n != before+1 {
		t.Fatalf("the second node compiled the module again: the shared cache holds %d, want %d", n, before+1)
	}
	if rec := pluginRecord(t, b, "gz"); rec.State != "enabled" || rec.Kind != plugin.Codec {
		t.Fatalf("the module loaded from the shared cache: %+v", rec)
	}
}

// withCustomSection returns wasm with a custom section appended: the same
// code under other bytes (name and data under 100 bytes together).
func withCustomSection(wasm []byte, name string, data []byte) []byte {
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, data...)
	out := append(slices.Clone(wasm), 0, byte(len(body)))
	return append(out, body...)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRouteHandlerClaimingRoot: a route plugin with prefix "/" answers the
// paths nobody else serves, and none of the node's own: /metrics, /stats,
// /healthz, pprof and the panel stay the node's.
func TestRouteHandlerClaimingRoot(t *testing.T) {
	rt := plugintest.Build(t, "plugins/route")
	n := meshtest.Start(t, host.Config{})
	n.Install(t, "root", rt, map[string]string{"routes": "/=respond:200:from the plugin"}, plugin.Options{Prefixes: []string{"/"}}, ptp.OK)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(n.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if got := get("/elsewhere"); got != "from the plugin" {
		t.Fatalf("GET /elsewhere: %q", got)
	}
	if got := get("/metrics"); !strings.Contains(got, "mesh_requests_total") {
		t.Errorf("GET /metrics was not the node's: %.200q", got)
	}
	for _, p := range []string{"/stats", "/healthz", "/debug/pprof/", "/panel/", "/v1/interconn/node"} {
		if got := get(p); got == "from the plugin" {
			t.Errorf("GET %s answered by the route plugin", p)
		}
	}
}
