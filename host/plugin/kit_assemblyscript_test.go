package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// The AssemblyScript kit (sdk/plugin/assemblyscript): its exports against
// the kinds table, the imports of its modules, and its three examples
// loaded in the real engine, plus echo plugins built from source here that
// send every field of the JSON documents back, to check the kit's JSON
// reader and writer against encoding/json.

const asKit = "../../sdk/plugin/assemblyscript"

// asExportPattern finds the kit's ABI exports: in its glue files, and only
// there, every top-level `export function` is a module export (helpers are
// class members or live in other files).
var asExportPattern = regexp.MustCompile(`(?m)^export function (\w+)\(`)

// asReexportPattern finds an example's re-export of the kit's exports.
var asReexportPattern = regexp.MustCompile(`export \{([^}]*)\} from "mesh-plugin/(\w+)"`)

// TestAssemblyScriptKitExports: the glue files export what the kinds table
// says, and each example re-exports exactly its kind's exports.
func TestAssemblyScriptKitExports(t *testing.T) {
	perKind := map[string][]string{}
	var all []string
	for _, kind := range []string{"codec", "auth", "route"} {
		names := kitExports(readFile(t, asKit+"/assembly/"+kind+".ts"), asExportPattern)
		perKind[kind] = names
		all = append(all, names...)
	}
	assertKitExports(t, "assemblyscript", all)
	for kind, want := range perKind {
		src := readFile(t, asKit+"/examples/"+kind+"/index.ts")
		m := asReexportPattern.FindStringSubmatch(src)
		if m == nil || m[2] != kind {
			t.Errorf("examples/%s/index.ts does not re-export from mesh-plugin/%s: %v", kind, kind, m)
			continue
		}
		var got []string
		for _, n := range strings.Split(m[1], ",") {
			got = append(got, strings.TrimSpace(n))
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {
			t.Errorf("examples/%s/index.ts re-exports %v, the kit's %s.ts exports %v", kind, got, kind, w)
		}
	}
}

// asNeedToolchain skips t when node or npm is missing, the only reason to.
func asNeedToolchain(tb testing.TB) {
	tb.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("%s is not installed (Debian: apt-get install nodejs npm), so the AssemblyScript kit cannot be built", tool)
		}
	}
}

// asExample builds the kit's example of kind and returns its path.
func asExample(tb testing.TB, kind string) string {
	tb.Helper()
	asNeedToolchain(tb)
	l := plugintest.LangOf(tb, "assemblyscript")
	for _, k := range []string{"codec", "auth", "route"} {
		l.Start(l.ExampleDir(k)) // all three in the background, once
	}
	return l.Example(tb, kind)
}

// TestAssemblyScriptKitImports: the codec imports only WASI (wit/ABI.md
// §2.5: no env.abort, env.seed, env.trace), the Extism kinds only the
// Extism kernel and WASI.
func TestAssemblyScriptKitImports(t *testing.T) {
	for kind, allowed := range map[string][]string{
		"codec": {"wasi_snapshot_preview1"},
		"auth":  {"wasi_snapshot_preview1", "extism:host/env"},
		"route": {"wasi_snapshot_preview1", "extism:host/env"},
	} {
		path := asExample(t, kind)
		funcs, memories := wasmImports(t, path)
		for _, f := range funcs {
			if mod, _, _ := strings.Cut(f, "."); !slices.Contains(allowed, mod) {
				t.Errorf("the %s example imports %s; it may import only from %v", kind, f, allowed)
			}
		}
		if len(memories) > 0 {
			t.Errorf("the %s example imports its memory (%v)", kind, memories)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (%d bytes) imports %v", kind, info.Size(), funcs)
	}
}

// asFirstDiff is the index of the first byte where a and b differ.
func asFirstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestAssemblyScriptCodec: the xor example XORs both ways with the
// configured key (decimal or hex, default 0x5a), is the identity with key
// 0, keeps empty input empty, and refuses a key that is not a byte with
// the Go example's message.
func TestAssemblyScriptCodec(t *testing.T) {
	path := asExample(t, "codec")
	ctx := context.Background()
	inputs := [][]byte{{}, []byte("hello, mesh"), randomBytes(31), randomBytes(33), randomBytes(1 << 20), randomBytes(1<<20 + 7)}
	for _, c := range []struct {
		config map[string]string
		key    byte
	}{
		{nil, 0x5a},
		{map[string]string{"key": "90"}, 0x5a},
		{map[string]string{"key": "0x5a"}, 0x5a},
		{map[string]string{"key": "0"}, 0},
		{map[string]string{"key": "255"}, 0xff},
		{map[string]string{"key": "0xA7"}, 0xa7},
		{map[string]string{"key": "7", "other": "x"}, 7},
	} {
		l, _ := openFile(t, path, Codec, c.config, Options{Pool: 1})
		for _, in := range inputs {
			want := xorRef(in, c.key)
			for _, fn := range []string{ExportEncode, ExportDecode} {
				out, err := l.call(ctx, fn, in)
				if err != nil {
					t.Fatalf("config %v: %s of %d bytes: %v", c.config, fn, len(in), err)
				}
				if !bytes.Equal(out, want) {
					t.Fatalf("config %v: %s of %d bytes: %d bytes out, first difference at byte %d", c.config, fn, len(in), len(out), asFirstDiff(out, want))
				}
			}
		}
	}
	for _, bad := range []string{"256", "x", "-1", "", "0x", "0x100", "1.5", " 7"} {
		if l, _ := loadXorKey(t, path, bad); l != nil {
			t.Errorf("key %q loaded", bad)
		}
	}
}

// TestAssemblyScriptCodecMemory: leakCalls calls of 1 MiB do not grow the
// instance's memory (each call's scratch is dropped), and one 128 MiB
// input works under the default 256 MiB cap.
func TestAssemblyScriptCodecMemory(t *testing.T) {
	l, _ := openFile(t, asExample(t, "codec"), Codec, nil, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	ctx := context.Background()
	in := randomBytes(1 << 20)
	want := xorRef(in, 0x5a)
	var first uint32
	for i := range leakCalls {
		out, err := l.call(ctx, ExportEncode, in)
		if err != nil || (i%100 == 0 && !bytes.Equal(out, want)) {
			t.Fatalf("call %d: %v (output right: %v)", i, err, bytes.Equal(out, want))
		}
		if i == 0 {
			first = instanceMemory(t, l)
		}
	}
	if last := instanceMemory(t, l); last != first || last > 4<<20 {
		t.Fatalf("memory grew from %d to %d bytes over %d calls of 1 MiB", first, last, leakCalls)
	} else {
		t.Logf("memory after %d calls of 1 MiB: %d bytes", leakCalls, last)
	}
	if testing.Short() {
		return
	}
	big := randomBytes(128 << 20)
	out, err := l.call(ctx, ExportEncode, big)
	if err != nil || len(out) != len(big) || out[0] != big[0]^0x5a || out[len(out)-1] != big[len(big)-1]^0x5a || !bytes.Equal(out, xorRef(big, 0x5a)) {
		t.Fatalf("128 MiB: %v (%d bytes out)", err, len(out))
	}
	t.Logf("memory after a 128 MiB call: %d MiB", instanceMemory(t, l)>>20)
}

// TestAssemblyScriptAuth: the allowlist example admits containers and
// listed partners, and refuses other partners with the Go example's reason
// and log line; source node ids with escapes, \u escapes, surrogate pairs
// and unknown fields around them are read as encoding/json reads them.
func TestAssemblyScriptAuth(t *testing.T) {
	path := asExample(t, "auth")
	l, lg := openFile(t, path, Auth, map[string]string{"nodes": "node-b,é-node,node-c"}, Options{TimeoutMs: hugeTimeoutMs})
	for _, src := range []string{"node-b", "node-c", "é-node"} {
		if d, raw := kitAuthorize(t, l, mustJSON(t, AuthRequest{Method: "push", Session: "s", SourceNode: src, Caller: "partner", Now: 1})); !d.Allow || string(raw) != `{"allow":true}` {
			t.Errorf("partner %s: %s, want {\"allow\":true}", src, raw)
		}
	}
	if d, _ := kitAuthorize(t, l, mustJSON(t, AuthRequest{Method: "pop", Session: "s", SourceNode: "node-x", Caller: "container"})); !d.Allow {
		t.Errorf("container refused: %+v", d)
	}
	d, raw := kitAuthorize(t, l, mustJSON(t, AuthRequest{Method: "push", Session: "s", SourceNode: "node-x", Caller: "partner"}))
	if d.Allow || string(raw) != `{"allow":false,"reason":"node node-x is not on the allow-list"}` {
		t.Errorf("partner node-x: %s", raw)
	}
	if !lg.has("refused partner node-x") {
		t.Errorf("no log line \"refused partner node-x\" in:\n%s", lg)
	}
	// Raw documents: escapes, fields in any order, unknown fields of every type.
	for _, in := range []string{
		`{"caller":"partner","source_node":"a\"b\\c\/d\n\t\u0001\u00e9\u8282\ud83d\ude00","method":"push","session":"s"}`,
		`{"x":{"a":[1,2,{"b":"}"}],"c":null},"y":[],"z":-1.5e3,"w":true,"method":"push","session":"s","caller":"partner","source_node":"lone \ud800 \udc00 end","now":1767225600}`,
		` { "method" : "push" , "session":"s", "caller" : "partner" , "source_node" : "é节😀\u2028" , "token":null, "now": 12 } `,
		`{"method":"push","session":"s","caller":"partner","source_node":"` + strings.Repeat(`\"x`, 5000) + `"}`,
	} {
		var req AuthRequest
		if err := json.Unmarshal([]byte(in), &req); err != nil {
			t.Fatalf("bad test document %s: %v", in, err)
		}
		d, raw := kitAuthorize(t, l, []byte(in))
		if want := "node " + req.SourceNode + " is not on the allow-list"; d.Allow || d.Reason != want {
			t.Errorf("input %.120s: decision %.200s, want reason %q", in, raw, want)
		}
	}
	// Without config every partner is refused.
	l2, _ := openFile(t, path, Auth, nil, Options{TimeoutMs: hugeTimeoutMs})
	if d, _ := kitAuthorize(t, l2, mustJSON(t, AuthRequest{Method: "push", SourceNode: "node-b", Caller: "partner"})); d.Allow {
		t.Errorf("partner admitted without an allow-list")
	}
	// Broken input fails the call with the kit's message.
	for _, in := range []string{``, `{`, `{"method":`, `[1]`, `{"method":"push"} x`, `{"caller":"partner","source_node":"\x"}`} {
		if _, err := l2.call(context.Background(), ExportAuthorize, []byte(in)); err == nil || !strings.Contains(err.Error(), "auth: bad input") {
			t.Errorf("input %q: %v, want an error saying auth: bad input", in, err)
		}
	}
}

// TestAssemblyScriptRoute: the hello example answers GET /hello with the
// Go example's status, header and body (byte for byte), by the configured
// name, and passes every other request on, whatever else the request
// carries (a 1 MiB body, headers with escapes, unknown fields).
func TestAssemblyScriptRoute(t *testing.T) {
	path := asExample(t, "route")
	hello := func(name string) []byte {
		return mustJSON(t, RouteResponse{Action: ActionRespond, Status: 200, Headers: map[string]string{"content-type": "text/plain; charset=utf-8"}, Body: []byte("Hello from " + name + "\n")})
	}
	big := randomBytes(1 << 20)
	for _, c := range []struct {
		config map[string]string
		name   string
	}{{nil, "mesh"}, {map[string]string{"name": "node-a"}, "node-a"}, {map[string]string{"name": "Zoë \"節\" 😀"}, "Zoë \"節\" 😀"}} {
		l, _ := openFile(t, path, Route, c.config, Options{Prefixes: []string{"/hello"}, TimeoutMs: hugeTimeoutMs})
		for _, req := range []RouteRequest{
			{Method: "GET", Path: "/hello"},
			{Method: "GET", Path: "/hello", Query: "a=1&b=%22", Headers: map[string]string{"x-a": "\"q\"\n", "accept": "*/*"}, Body: big, RemoteAddr: "10.0.0.7", TLSIdentity: "node-b"},
		} {
			if _, raw := kitHandle(t, l, mustJSON(t, req)); !bytes.Equal(raw, hello(c.name)) {
				t.Errorf("config %v, GET /hello: %.300s, want %s", c.config, raw, hello(c.name))
			}
		}
		for _, req := range []RouteRequest{{Method: "POST", Path: "/hello"}, {Method: "GET", Path: "/hello/x"}, {Method: "GET", Path: "/other", Body: big}} {
			if _, raw := kitHandle(t, l, mustJSON(t, req)); string(raw) != `{"action":"next"}` {
				t.Errorf("%s %s: %s, want {\"action\":\"next\"}", req.Method, req.Path, raw)
			}
		}
		// The path after a big body and unknown fields, with escapes.
		in := `{"body":"` + base64.StdEncoding.EncodeToString(big) + `","x":{"y":["/other"]},"method":"G\u0045T","headers":{"a":"\u00e9"},"path":"\/hello"}`
		if _, raw := kitHandle(t, l, []byte(in)); !bytes.Equal(raw, hello(c.name)) {
			t.Errorf("escaped GET /hello after a 1 MiB body: %.300s", raw)
		}
	}
	l, _ := openFile(t, path, Route, nil, Options{Prefixes: []string{"/hello"}, TimeoutMs: hugeTimeoutMs})
	for _, in := range []string{`{"method":"GET","path":"/hello","body":"abc"}`, `{"method":"GET","path":"/hello","body":"a=bc"}`, `{"method":"GET","path":"/hello","headers":{"a":}}`} {
		if _, err := l.call(context.Background(), ExportHandle, []byte(in)); err == nil || !strings.Contains(err.Error(), "route: bad input") {
			t.Errorf("input %s: %v, want an error saying route: bad input", in, err)
		}
	}
}

// asEchoRoute answers every request with everything it read: the body as
// the body, the headers as headers, the other fields as x- headers.
const asEchoRoute = `import { Route, RouteRequest, RouteResponse } from "mesh-plugin/route";
export { handle } from "mesh-plugin/route";

function echo(r: RouteRequest): RouteResponse {
  const resp = RouteResponse.respondBytes(201, r.body);
  const keys = r.headers.keys();
  for (let i = 0; i < keys.length; i++) resp.headers.set(keys[i], r.headers.get(keys[i]));
  resp.headers.set("x-method", r.method);
  resp.headers.set("x-path", r.path);
  resp.headers.set("x-query", r.query);
  resp.headers.set("x-remote-addr", r.remoteAddr);
  resp.headers.set("x-tls-identity", r.tlsIdentity);
  resp.target = r.path;
  return resp;
}

Route.register(echo);
`

// asEchoAuth admits every request with its fields as headers and now as
// the TTL.
const asEchoAuth = `import { Auth, AuthDecision, AuthRequest } from "mesh-plugin/auth";
export { authorize } from "mesh-plugin/auth";

function echo(r: AuthRequest): AuthDecision {
  const d = AuthDecision.admit();
  d.reason = r.sourceNode;
  d.ttlMs = r.now;
  d.headers.set("method", r.method);
  d.headers.set("session", r.session);
  d.headers.set("topic", r.topic);
  d.headers.set("path", r.path);
  d.headers.set("source_node", r.sourceNode);
  d.headers.set("target_node", r.targetNode);
  d.headers.set("token", r.token);
  d.headers.set("remote_addr", r.remoteAddr);
  d.headers.set("tls_identity", r.tlsIdentity);
  d.headers.set("caller", r.caller);
  return d;
}

Auth.register(echo);
`

// asBuildSource builds an AssemblyScript plugin from src (its index.ts)
// with the kit's build.sh and returns the module's path.
func asBuildSource(t *testing.T, src string) string {
	t.Helper()
	asNeedToolchain(t)
	asExample(t, "codec") // the kit's own build first: it may have to npm ci
	return buildSource(t, "assemblyscript", "index.ts", src)
}

// TestAssemblyScriptKitJSON: what the echo plugins read and write back
// equals what encoding/json sent and reads: every field of AuthRequest and
// RouteRequest, strings with escapes, control characters, non-ASCII and
// invalid UTF-8 (read as U+FFFD, as Go does), bodies of every length mod 3
// up to 1 MiB.
func TestAssemblyScriptKitJSON(t *testing.T) {
	route, _ := openFile(t, asBuildSource(t, asEchoRoute), Route, nil, Options{Prefixes: []string{"/"}, TimeoutMs: hugeTimeoutMs})
	auth, _ := openFile(t, asBuildSource(t, asEchoAuth), Auth, nil, Options{TimeoutMs: hugeTimeoutMs})
	bodies := [][]byte{nil, {0}, {1, 2}, {1, 2, 3}, randomBytes(1000), randomBytes(1 << 20)}
	for i, s := range jsonWeird {
		// Go sends invalid UTF-8 as U+FFFD: that is what comes back.
		clean := strings.ToValidUTF8(s, "\uFFFD")
		req := RouteRequest{Method: "GET" + s, Path: "/p" + s, Query: s, Headers: map[string]string{"h" + s: s, "k": "v"}, Body: bodies[i%len(bodies)], RemoteAddr: s, TLSIdentity: s}
		got, raw := kitHandle(t, route, mustJSON(t, req))
		want := RouteResponse{Action: ActionRespond, Status: 201, Body: req.Body, Target: "/p" + clean, Headers: map[string]string{
			"h" + clean: clean, "k": "v", "x-method": "GET" + clean, "x-path": "/p" + clean, "x-query": clean, "x-remote-addr": clean, "x-tls-identity": clean,
		}}
		if !bytes.Equal(mustJSON(t, got), mustJSON(t, want)) {
			t.Errorf("route echo of %q: %.300s,\nwant %.300s", s, raw, mustJSON(t, want))
		}
		areq := AuthRequest{Method: "push" + s, Session: s, Topic: s, Path: s, SourceNode: s, TargetNode: s, Token: s, RemoteAddr: s, TLSIdentity: s, Caller: s, Now: int64(i) - 3}
		d, raw := kitAuthorize(t, auth, mustJSON(t, areq))
		wantD := AuthDecision{Allow: true, Reason: clean, TTLms: int64(i) - 3, Headers: map[string]string{
			"method": "push" + clean, "session": clean, "topic": clean, "path": clean, "source_node": clean, "target_node": clean,
			"token": clean, "remote_addr": clean, "tls_identity": clean, "caller": clean,
		}}
		if !bytes.Equal(mustJSON(t, d), mustJSON(t, wantD)) {
			t.Errorf("auth echo of %q: %.300s,\nwant %.300s", s, raw, mustJSON(t, wantD))
		}
	}
	for _, body := range bodies {
		if got, _ := kitHandle(t, route, mustJSON(t, RouteRequest{Method: "GET", Path: "/", Body: body})); !bytes.Equal(got.Body, body) {
			t.Errorf("body of %d bytes came back as %d bytes", len(body), len(got.Body))
		}
	}
}

// asProbeCodec exercises the codec kit's error paths and its memory rules:
// encode fails on "fail" (Codec.fail), aborts on "boom" (a throw), else
// returns the input reversed in a new array; decode prepends the "prefix"
// configure kept, which must survive every later call's scratch reset.
const asProbeCodec = `import { Codec, Config } from "mesh-plugin/codec";
export { mesh_alloc, encode, decode, mesh_configure } from "mesh-plugin/codec";

let prefix: Uint8Array = new Uint8Array(0);

function configure(cfg: Config): string | null {
  const p = cfg.getOr("prefix", "");
  if (p == "refuse") return "probe: refused \"" + p + "\" é";
  prefix = Uint8Array.wrap(String.UTF8.encode(p));
  return null;
}

function encode(input: Uint8Array): Uint8Array {
  const s = String.UTF8.decodeUnsafe(input.dataStart, min(input.length, 8));
  if (s == "fail") return Codec.fail("probe: cannot encode \"fail\" é");
  if (s == "boom") throw new Error("boom é");
  const out = new Uint8Array(input.length);
  for (let i = 0; i < input.length; i++) out[i] = input[input.length - 1 - i];
  return out;
}

function decode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + input.length);
  out.set(prefix);
  out.set(input, prefix.length);
  return out;
}

Codec.register(encode, decode, configure);
`

// TestAssemblyScriptKitCodecErrors: Codec.fail fails one call and keeps the
// instance; a throw logs its message on stderr and traps (the instance is
// replaced); a configure error refuses the load with its message; what
// configure allocated survives calls that allocate megabytes.
func TestAssemblyScriptKitCodecErrors(t *testing.T) {
	path := asBuildSource(t, asProbeCodec)
	ctx := context.Background()
	if _, _, err := loadFile(t, path, Codec, map[string]string{"prefix": "refuse"}, Options{}); err == nil || !strings.HasSuffix(err.Error(), `probe: refused "refuse" é`) {
		t.Errorf("refused configuration: %v", err)
	}
	l, lg := openFile(t, path, Codec, map[string]string{"prefix": "pré-"}, Options{Pool: 1})
	big := randomBytes(3 << 20)
	for i := range 3 {
		if out, err := l.call(ctx, ExportDecode, []byte("x")); err != nil || string(out) != "pré-x" {
			t.Fatalf("decode %d: %q %v, want \"pré-x\"", i, out, err)
		}
		out, err := l.call(ctx, ExportEncode, big)
		if err != nil || len(out) != len(big) || out[0] != big[len(big)-1] || out[len(out)-1] != big[0] {
			t.Fatalf("encode of 3 MiB: %v", err)
		}
	}
	before := l.pool.discarded.Load()
	if _, err := l.call(ctx, ExportEncode, []byte("fail")); err == nil || err.Error() != `probe: cannot encode "fail" é` {
		t.Errorf("Codec.fail: %v", err)
	}
	if l.pool.discarded.Load() != before {
		t.Errorf("a reported error closed the instance")
	}
	if _, err := l.call(ctx, ExportEncode, []byte("boom")); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("throw: %v, want a trap", err)
	}
	if l.pool.discarded.Load() != before+1 {
		t.Errorf("a trap did not close the instance")
	}
	if !lg.has("abort: boom é at") {
		t.Errorf("the abort message is not in the log:\n%s", lg)
	}
	if out, err := l.call(ctx, ExportDecode, nil); err != nil || string(out) != "pré-" {
		t.Errorf("after the trap: %q %v", out, err)
	}
}
