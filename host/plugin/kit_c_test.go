package plugin

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// The C kit (sdk/plugin/c): its export names, its three examples in the
// real engine, and the kit's JSON reader and writer through two probe
// plugins built from the sources below.

// TestCKitExports: the MESH_EXPORT("name") names of mesh_plugin.h.
func TestCKitExports(t *testing.T) {
	src := readFile(t, "../../sdk/plugin/c/mesh_plugin.h")
	assertKitExports(t, "c", kitExports(src, regexp.MustCompile(`MESH_EXPORT\("(\w+)"\)`)))
}

// cMustLoad loads the module at path as kind k with one instance,
// failing tb on error.
func cMustLoad(tb testing.TB, path string, k Kind, config map[string]string) *loaded {
	tb.Helper()
	// A generous deadline: the tests feed 1 MiB documents, which under the
	// race detector on a busy machine can take longer than auth's 2 s.
	l, _ := openFile(tb, path, k, config, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	return l
}

// cExtismImportsOnly fails t unless every import of the module at path is
// one of extism:host/env.
func cExtismImportsOnly(t *testing.T, path string) {
	t.Helper()
	im, _ := wasmImports(t, path)
	for _, x := range im {
		if !strings.HasPrefix(x, "extism:host/env.") {
			t.Errorf("%s imports %s (all: %v), want only extism:host/env", filepath.Base(path), x, im)
		}
	}
	if len(im) == 0 {
		t.Errorf("%s imports nothing, want extism:host/env", filepath.Base(path))
	}
}

// TestCKitBadInput: every truncation of a valid document, and bytes that
// are not JSON, fail the call with the kit's "bad input" message (a guest
// error, not a trap), and the next call works.
func TestCKitBadInput(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		kind  Kind
		fn    string
		extra []string // bad for this kind only
		doc   string
	}{
		{Auth, ExportAuthorize, []string{`{"now":"1"}`, `{"now":tru}`, `{"caller":5,"now":--1}`}, `{"method":"push","x":{"y":[1,"\u00e9\"",{}]},"session":"s\ud83d\ude00","caller":"partner","source_node":"a","now":-12}`},
		{Route, ExportHandle, []string{`{"body":"!!!!"}`, `{"headers":{"a":nul}}`}, `{"method":"GET","path":"/hello","headers":{"a":"\"b\\"},"body":"aGVsbG8=","q":[true,false,null,1e5]}`},
	} {
		l := cMustLoad(t, plugintest.LangOf(t, "c").Example(t, string(c.kind)), c.kind, nil)
		bad := append([]string{"", "nope", "[]", `{"method":1e}`, `{"x":1.}`, `{"x":-}`, `{"x":[1,]}`, `{"x":nulx}`, `{"x":fals}`, "\x00\xff"}, c.extra...)
		for i := 1; i < len(c.doc); i++ {
			bad = append(bad, c.doc[:i])
		}
		for _, in := range bad {
			_, err := l.call(ctx, c.fn, []byte(in))
			if err == nil || !strings.Contains(err.Error(), "bad input") {
				t.Errorf("%s of %q: %v, want a bad input error", c.fn, in, err)
			}
		}
		if _, err := l.call(ctx, c.fn, []byte(c.doc)); err != nil {
			t.Errorf("%s of the whole document: %v", c.fn, err)
		}
	}
}

// TestCKitCodec: the xor example XORs with its key (default 0x5a) both ways,
// returns empty for empty and the input for key 0, reads every key as Go's
// strconv.ParseUint(s, 0, 8) does and refuses the rest with the Go
// example's exact message; it imports nothing.
func TestCKitCodec(t *testing.T) {
	path := plugintest.LangOf(t, "c").Example(t, "codec")
	if im, _ := wasmImports(t, path); len(im) != 0 {
		t.Errorf("the xor codec imports %v, want nothing", im)
	}
	ctx := context.Background()
	big := randomBytes(1 << 20)
	keys := []string{"", "0", "90", "0x5a", "0X5A", "255", "017", "0b101", "0o17", "1_0", "0x_5a", "00",
		"256", "-1", "+1", "0x", "0x100", "zz", "08", "1__0", "_1", "1_", "0_", " 1", `a"b\c`, "é", "\x01\n"}
	for _, key := range keys {
		l, k := loadXorKey(t, path, key)
		if l == nil {
			continue
		}
		for _, in := range [][]byte{[]byte("hello, mesh"), {}, big} {
			for _, fn := range []string{ExportEncode, ExportDecode} {
				out, err := l.call(ctx, fn, in)
				if err != nil {
					t.Fatalf("key %q: %s: %v", key, fn, err)
				}
				if !bytes.Equal(out, xorRef(in, k)) {
					t.Errorf("key %q: %s of %d bytes: wrong output (%.16x…)", key, fn, len(in), out)
				}
			}
		}
	}
	l := cMustLoad(t, path, Codec, nil)
	if out, _ := l.call(ctx, ExportEncode, []byte("ab")); !bytes.Equal(out, xorRef([]byte("ab"), 0x5a)) {
		t.Errorf("no config: encode gives %q, want the default key 0x5a", out)
	}
}

// TestCKitCodecMemory: leakCalls calls of 1 MiB leave the memory as it was
// after the first ten (the allocator is reset at each call), and 129 MiB
// payloads go through, in place and through mesh_output.
func TestCKitCodecMemory(t *testing.T) {
	l, _ := openFile(t, plugintest.LangOf(t, "c").Example(t, "codec"), Codec, nil, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	in := payload(1 << 20)
	ctx := context.Background()
	call := func(n int) {
		for range n {
			if _, err := l.call(ctx, ExportEncode, in); err != nil {
				t.Fatal(err)
			}
		}
	}
	call(10)
	before := instanceMemory(t, l)
	call(leakCalls)
	if after := instanceMemory(t, l); after != before {
		t.Errorf("memory grew from %d to %d bytes over %d calls of 1 MiB", before, after, leakCalls)
	}

	// 129 MiB in place (the xor example) under the default 256 MiB cap, and
	// copied through mesh_output (the probe: input + output) under 320 MiB.
	huge := payload(129 << 20)
	out, err := l.call(ctx, ExportEncode, huge)
	if err != nil || !bytes.Equal(out, xorRef(huge, 0x5a)) {
		t.Errorf("xor of 129 MiB: %v, %d bytes", err, len(out))
	}
	p, _ := openFile(t, cProbe(t, "codec"), Codec, map[string]string{"say": "", "x": "", "z": ""}, Options{Pool: 1, MaxMemoryMB: 320, TimeoutMs: hugeTimeoutMs})
	out, err = p.call(ctx, ExportEncode, huge)
	if err != nil || !bytes.Equal(out, huge) {
		t.Errorf("a 129 MiB copy through mesh_output: %v, %d bytes", err, len(out))
	}
}

// TestCKitCodecProbe: mesh_fail2, mesh_random (the only import: WASI's
// random_get) and mesh_configure's JSON parsing with escapes.
func TestCKitCodecProbe(t *testing.T) {
	path := cProbe(t, "codec")
	if im, _ := wasmImports(t, path); !slices.Equal(im, []string{"wasi_snapshot_preview1.random_get"}) {
		t.Errorf("the probe codec imports %v, want only wasi_snapshot_preview1.random_get", im)
	}
	cfg := map[string]string{"x": "1", "say": "tab\t \"quoted\" é \U0001F600 \x01 \\ /", "z": ""}
	l := cMustLoad(t, path, Codec, cfg)
	ctx := context.Background()
	_, err := l.call(ctx, ExportDecode, []byte("abc"))
	if want := "probe: said " + cfg["say"] + "|"; err == nil || err.Error() != want {
		t.Errorf("decode: error %q, want %q", err, want)
	}
	a, err := l.call(ctx, ExportEncode, []byte("random:64"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := l.call(ctx, ExportEncode, []byte("random:64"))
	if len(a) != 64 || len(b) != 64 || bytes.Equal(a[:32], b[:32]) || bytes.Equal(a[32:], b[32:]) {
		t.Errorf("mesh_random gave %x then %x, want 64 fresh random bytes each", a, b)
	}
	if _, _, err := loadFile(t, path, Codec, map[string]string{"refuse": "yes"}, Options{Pool: 1}); err == nil || !strings.Contains(err.Error(), "probe: refused yes") {
		t.Errorf("a refusing configure loaded (%v)", err)
	}
}

// TestCKitAuth: the allowlist example admits containers and listed
// partners, refuses others with the Go example's reason and log line, and
// reads its input through escapes, unknown fields and a 1 MiB field.
func TestCKitAuth(t *testing.T) {
	path := plugintest.LangOf(t, "c").Example(t, "auth")
	cExtismImportsOnly(t, path)
	l, log := openFile(t, path, Auth, map[string]string{"nodes": "node-b,node-c"}, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	req := func(caller, source string) string {
		return string(mustJSON(t, AuthRequest{Method: "push", Session: "s", Caller: caller, SourceNode: source, Now: 1767225600}))
	}
	for _, c := range []struct {
		in    string
		allow bool
	}{
		{req("container", "node-x"), true},
		{req("partner", "node-b"), true},
		{req("partner", "node-c"), true},
		{req("partner", "node-bc"), false},
		{req("partner", ""), false},
		{`{"caller":"partner","source_node":"node-\u0062"}`, true},
		{`{"unknown":{"a":[1,2,{"b":"}"}],"c":null},"caller" : "partner" , "x":-1.5e3,"source_node":"node-c","t":true}`, true},
		{`{"caller":"part\u006eer","source_node":"node-\"é\ud83d\ude00\\\/"}`, false},
	} {
		d, out := kitAuthorize(t, l, []byte(c.in))
		if d.Allow != c.allow {
			t.Errorf("%s: allow %v, want %v (%s)", c.in, d.Allow, c.allow, out)
		}
		if c.allow && string(out) != `{"allow":true}` {
			t.Errorf("%s: output %s, want {\"allow\":true}", c.in, out)
		}
	}
	src := "node-\"é\U0001F600\\/"
	d, out := kitAuthorize(t, l, []byte(`{"caller":"part\u006eer","source_node":"node-\"é\ud83d\ude00\\\/"}`))
	if want := "node " + src + " is not on the allow-list"; d.Reason != want {
		t.Errorf("reason %q, want %q (%s)", d.Reason, want, out)
	}
	if !log.has("refused partner " + src) {
		t.Errorf("no log line %q in:\n%s", "refused partner "+src, log)
	}
	long := strings.Repeat("n\u00e9\n", 1<<18)
	b := mustJSON(t, AuthRequest{Caller: "partner", SourceNode: long, Token: strings.Repeat("t", 1<<20)})
	if d, _ := kitAuthorize(t, l, b); d.Reason != "node "+long+" is not on the allow-list" {
		t.Errorf("a 1 MiB source_node came back wrong (%d bytes of reason)", len(d.Reason))
	}

	unset := cMustLoad(t, path, Auth, nil)
	if d, _ := kitAuthorize(t, unset, []byte(req("partner", "node-b"))); d.Allow {
		t.Errorf("without nodes a partner was admitted")
	}
	if d, _ := kitAuthorize(t, unset, []byte(req("partner", ""))); !d.Allow {
		t.Errorf("without nodes a partner with no source node was refused; the Go example admits it (strings.Split gives [\"\"])")
	}
}

// TestCKitRoute: the hello example answers GET /hello with its greeting,
// header and status, and everything else with next, whatever else the
// request carries (escapes, unknown fields, a 1 MiB body).
func TestCKitRoute(t *testing.T) {
	path := plugintest.LangOf(t, "c").Example(t, "route")
	cExtismImportsOnly(t, path)
	l := cMustLoad(t, path, Route, nil)
	get := func(r RouteRequest) []byte { return mustJSON(t, r) }
	r, out := kitHandle(t, l, get(RouteRequest{Method: "GET", Path: "/hello"}))
	want := RouteResponse{Action: ActionRespond, Status: 200, Headers: map[string]string{"content-type": "text/plain; charset=utf-8"}, Body: []byte("Hello from mesh\n")}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Errorf("GET /hello: %s, want %+v", out, want)
	}
	body := randomBytes(1 << 20)
	in := get(RouteRequest{Method: "GET", Path: "/hello", Query: "a=1&b=%22", Body: body, Headers: map[string]string{"x-q": "\"\u2028\x01"}})
	in = append([]byte(`{"zzz":[{"path":"/no"}],`), in[1:]...)
	if r, out := kitHandle(t, l, in); fmt.Sprint(r) != fmt.Sprint(want) {
		t.Errorf("GET /hello with a body and extras: %s", out)
	}
	if r, out := kitHandle(t, l, []byte(`{"method":"G\u0045T","path":"\/hello"}`)); fmt.Sprint(r) != fmt.Sprint(want) {
		t.Errorf("GET /hello written with escapes: %s", out)
	}
	for _, req := range []RouteRequest{{Method: "POST", Path: "/hello"}, {Method: "GET", Path: "/hello/"}, {Method: "GET", Path: "/hell"}, {Method: "get", Path: "/hello"}} {
		if _, out := kitHandle(t, l, get(req)); string(out) != `{"action":"next"}` {
			t.Errorf("%s %s: %s, want {\"action\":\"next\"}", req.Method, req.Path, out)
		}
	}
	named := cMustLoad(t, path, Route, map[string]string{"name": "Zoë \"n\"\t\x01"})
	if r, out := kitHandle(t, named, get(RouteRequest{Method: "GET", Path: "/hello"})); string(r.Body) != "Hello from Zoë \"n\"\t\x01\n" {
		t.Errorf("GET /hello with a name: %s", out)
	}
}

// TestCKitProbeAuth: every AuthRequest field reaches the author as sent
// and every AuthDecision field comes back as set (headers, ttl_ms).
func TestCKitProbeAuth(t *testing.T) {
	l := cMustLoad(t, cProbe(t, "auth"), Auth, nil)
	odd := "q\"\\/\b\f\n\r\t\x01\x1f\x7f é \u2028 \U0001F600 <&>"
	for _, now := range []int64{0, 1767225600, -5, 1 << 62} {
		req := AuthRequest{Method: "push", Session: "s" + odd, Topic: "t", Path: "/p", SourceNode: "a", TargetNode: "b",
			Token: odd, RemoteAddr: "10.0.0.7", TLSIdentity: "c", Caller: "partner", Now: now}
		d, out := kitAuthorize(t, l, mustJSON(t, req))
		fields := strings.Join([]string{req.Method, req.Path, req.Session, req.Topic, req.SourceNode, req.TargetNode,
			req.Token, req.RemoteAddr, req.TLSIdentity, req.Caller}, "|")
		want := AuthDecision{Allow: true, Reason: fields, Headers: map[string]string{"x-token": odd, "x-e": ""}, TTLms: now}
		if fmt.Sprint(d) != fmt.Sprint(want) {
			t.Errorf("probe auth: %s\nwant %+v", out, want)
		}
	}
}

// TestCKitProbeRoute: every RouteRequest field (headers, a 1 MiB base64
// body) reaches the author as sent and every RouteResponse field comes back
// as set.
func TestCKitProbeRoute(t *testing.T) {
	l := cMustLoad(t, cProbe(t, "route"), Route, nil)
	odd := "q\"\\/\b\f\n\r\t\x01\x1f\x7f é \u2028 \U0001F600"
	for _, n := range []int{0, 1, 2, 3, 4, 1 << 20} {
		body := randomBytes(n)
		req := RouteRequest{Method: "PUT", Path: "/p" + odd, Query: "a=" + odd, Body: body, RemoteAddr: "10.0.0.7", TLSIdentity: "node-b",
			Headers: map[string]string{"x-a": odd, "x-b": "", "content-type": "x"}}
		r, out := kitHandle(t, l, mustJSON(t, req))
		h := map[string]string{"x-method": req.Method, "x-path": req.Path, "x-query": req.Query, "x-remote": req.RemoteAddr, "x-tls": req.TLSIdentity}
		for k, v := range req.Headers {
			h["echo-"+k] = v
		}
		want := RouteResponse{Action: ActionForward, Status: 599, Headers: h, Body: body, Target: "node:" + odd}
		if fmt.Sprint(r) != fmt.Sprint(want) {
			t.Errorf("probe route, %d-byte body: %.400s\nwant %.400v", n, out, want)
		}
	}
	if _, err := l.call(context.Background(), ExportHandle, []byte(`{"method":"FAIL"}`)); err == nil || !strings.Contains(err.Error(), "probe: failing as asked") {
		t.Errorf("a failing route_handle gave %v, want its message", err)
	}
}

// cProbeSources are C plugins that echo what the kit hands them, so the
// tests see every field of the kit's parsers and writers.
var cProbeSources = map[string]string{
	"codec": `#define MESH_CODEC
#define MESH_CODEC_CONFIGURE
#include "mesh_plugin.h"
static mesh_bytes said; /* copied: configuration memory is reset */
mesh_result codec_configure(const mesh_config *cfg) {
	mesh_bytes v;
	if (mesh_config_get(cfg, "refuse", &v)) return mesh_fail2("probe: refused ", (const char *)v.ptr, v.len);
	if (!mesh_config_get(cfg, "say", &v) || !mesh_config_get(cfg, "x", &v) || !mesh_config_get(cfg, "z", &v) || v.len)
		return mesh_fail("probe: say, x or z missing");
	mesh_config_get(cfg, "say", &v);
	static uint8_t keep[256];
	if (v.len > sizeof keep) return mesh_fail("probe: say too long");
	memcpy(keep, v.ptr, v.len);
	said.ptr = keep; said.len = v.len;
	return 0;
}
mesh_result codec_encode(mesh_bytes in) {
	if (in.len == 9 && memcmp(in.ptr, "random:64", 9) == 0) {
		mesh_bytes out = mesh_output(64);
		mesh_random(out.ptr, 64);
		return mesh_ok(out);
	}
	mesh_bytes out = mesh_output(in.len);
	memcpy(out.ptr, in.ptr, in.len);
	return mesh_ok(out);
}
mesh_result codec_decode(mesh_bytes in) {
	(void)in;
	uint8_t d[300];
	memcpy(d, said.ptr, said.len);
	d[said.len] = '|';
	return mesh_fail2("probe: said ", (const char *)d, said.len + 1);
}
`,
	"auth": `#define MESH_AUTH
#include "mesh_plugin.h"
int auth_authorize(const mesh_auth_request *r, mesh_auth_decision *d) {
	const mesh_bytes f[] = {r->method, r->path, r->session, r->topic, r->source_node, r->target_node,
		r->token, r->remote_addr, r->tls_identity, r->caller};
	mesh_buf b = {0, 0, 0};
	for (unsigned i = 0; i < sizeof f / sizeof f[0]; i++) {
		if (i) mesh_buf_str(&b, "|");
		mesh_buf_bytes(&b, f[i]);
	}
	d->allow = 1;
	d->reason = mesh_buf_slice(&b);
	mesh_pairs_add(&d->headers, mesh_str("x-token"), r->token);
	mesh_pairs_add(&d->headers, mesh_str("x-e"), mesh_str(""));
	d->ttl_ms = r->now;
	return 0;
}
`,
	"route": `#define MESH_ROUTE
#include "mesh_plugin.h"
int route_handle(const mesh_route_request *r, mesh_route_response *resp) {
	if (mesh_eq(r->method, "FAIL")) { mesh_error("probe: failing as asked"); return 3; }
	resp->action = MESH_FORWARD;
	resp->status = 599;
	resp->body = r->body;
	mesh_buf t = {0, 0, 0};
	mesh_bytes a = mesh_str("");
	mesh_pairs_get(&r->headers, "x-a", &a);
	mesh_buf_str(&t, "node:");
	mesh_buf_bytes(&t, a);
	for (uint32_t i = 0; i < r->headers.len; i++) {
		mesh_buf n = {0, 0, 0};
		mesh_buf_str(&n, "echo-");
		mesh_buf_bytes(&n, r->headers.items[i].name);
		mesh_pairs_add(&resp->headers, mesh_buf_slice(&n), r->headers.items[i].value);
	}
	resp->target = mesh_buf_slice(&t);
	mesh_pairs_add(&resp->headers, mesh_str("x-method"), r->method);
	mesh_pairs_add(&resp->headers, mesh_str("x-path"), r->path);
	mesh_pairs_add(&resp->headers, mesh_str("x-query"), r->query);
	mesh_pairs_add(&resp->headers, mesh_str("x-remote"), r->remote_addr);
	mesh_pairs_add(&resp->headers, mesh_str("x-tls"), r->tls_identity);
	return 0;
}
`,
}

// cProbe builds the probe plugin of kind with the kit's build.sh and
// returns its path.
func cProbe(tb testing.TB, kind string) string {
	tb.Helper()
	return buildSource(tb, "c", "probe.c", cProbeSources[kind])
}
