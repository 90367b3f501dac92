package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	kits "github.com/ppcmesh/mesh/sdk/plugin"
)

// The Rust kit (sdk/plugin/rust): its exports, its three examples built
// with build.sh and run in the real engine, the kit's JSON reader and
// writer through an echo plugin built from source in a temporary folder,
// the Cargo build and the project layout of new/manifest.

const rustKit = "../../sdk/plugin/rust"

// TestRustKitExports: the #[no_mangle] extern "C" functions the kit's
// macros generate.
func TestRustKitExports(t *testing.T) {
	src := readFile(t, rustKit+"/mesh_plugin.rs")
	pattern := regexp.MustCompile(`(?m)#\[no_mangle\]\s*pub extern "C" fn (\w+)`)
	assertKitExports(t, "rust", kitExports(src, pattern))
}

// rustExample builds the Rust kit's example of kind.
func rustExample(tb testing.TB, kind string) string {
	tb.Helper()
	return plugintest.LangOf(tb, "rust").Example(tb, kind)
}

// TestRustKitImports: the codec imports nothing but WASI (ABI.md §2.5),
// the Extism kinds import the kernel.
func TestRustKitImports(t *testing.T) {
	for _, kind := range []string{"codec", "auth", "route"} {
		path := rustExample(t, kind)
		funcs, _ := wasmImports(t, path)
		mods := map[string][]string{}
		for _, f := range funcs {
			mod, name, _ := strings.Cut(f, ".")
			mods[mod] = append(mods[mod], name)
		}
		info, _ := os.Stat(path)
		t.Logf("%s: %d bytes, imports %v", kind, info.Size(), mods)
		if kind == "codec" {
			for m := range mods {
				if m != "wasi_snapshot_preview1" {
					t.Errorf("the codec example imports from %q (%v): a codec may import only wasi_snapshot_preview1", m, mods[m])
				}
			}
		} else if len(mods["extism:host/env"]) == 0 {
			t.Errorf("the %s example imports nothing from extism:host/env: %v", kind, mods)
		}
		if info.Size() > 200<<10 {
			t.Errorf("the %s example is %d bytes: not an optimised, stripped build", kind, info.Size())
		}
	}
}

// TestRustKitCodecXor: the xor example encodes and decodes as the Go one.
func TestRustKitCodecXor(t *testing.T) {
	path := rustExample(t, "codec")
	ctx := context.Background()
	big := randomBytes(1 << 20)
	for _, c := range []struct {
		config map[string]string
		key    byte
	}{{nil, 0x5a}, {map[string]string{"key": "7"}, 7}, {map[string]string{"key": "0"}, 0}} {
		l, _ := openFile(t, path, Codec, c.config, Options{Pool: 1})
		for _, in := range [][]byte{nil, []byte("x"), []byte("hello, mesh!"), big} {
			for _, fn := range []string{ExportEncode, ExportDecode} {
				out, err := l.call(ctx, fn, in)
				if err != nil {
					t.Fatalf("key %#x: %s of %d bytes: %v", c.key, fn, len(in), err)
				}
				if want := xorRef(in, c.key); !bytes.Equal(out, want) {
					t.Fatalf("key %#x: %s of %d bytes: got %.16q…, want %.16q…", c.key, fn, len(in), out, want)
				}
			}
		}
	}
}

// TestRustKitCodecKeys: every key spelling is read as Go's
// strconv.ParseUint(s, 0, 8) reads it, and a bad key fails loading with
// the Go example's message.
func TestRustKitCodecKeys(t *testing.T) {
	path := rustExample(t, "codec")
	ctx := context.Background()
	for _, s := range []string{"90", "0x5a", "0X5A", "255", "0", "0b1010", "0o17", "017", "1_0", "0x_5a",
		"256", "-1", "+1", "", "abc", "0x", "08", "_1", "1__0", "1_", " 1", "0x1g", `a"b\c` + "\n\t\x01", "ü"} {
		l, k := loadXorKey(t, path, s)
		if l == nil {
			continue
		}
		if out, err := l.call(ctx, ExportEncode, []byte{0, 0xff}); err != nil || !bytes.Equal(out, []byte{k, ^k}) {
			t.Errorf("key %q: encode(00 ff) = %x %v, want key %#x", s, out, err, k)
		}
	}
}

// TestRustKitCodecLarge: a 128 MiB+ input, identity and XORed.
func TestRustKitCodecLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("128 MiB inputs")
	}
	path := rustExample(t, "codec")
	in := make([]byte, 128<<20+3)
	rand.Read(in[:1<<20])
	in[len(in)-1] = 0x42
	for _, c := range []struct {
		key   string
		k     byte
		maxMB int64
	}{{"0", 0, 0}, {"0x5a", 0x5a, 400}} {
		l, _ := openFile(t, path, Codec, map[string]string{"key": c.key}, Options{Pool: 1, MaxMemoryMB: c.maxMB, TimeoutMs: hugeTimeoutMs})
		out, err := l.call(context.Background(), ExportEncode, in)
		if err != nil {
			t.Fatalf("key %s: %d bytes: %v", c.key, len(in), err)
		}
		want := in // key 0 is the identity: the input itself comes back
		if c.k != 0 {
			want = xorRef(in, c.k)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("key %s: %d bytes came back wrong", c.key, len(in))
		}
	}
}

// TestRustKitCodecNoLeak: leakCalls calls of 1 MiB leave the instance's
// memory where the first ten left it.
func TestRustKitCodecNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB through the codec")
	}
	l, _ := openFile(t, rustExample(t, "codec"), Codec, nil, Options{Pool: 1})
	ctx := context.Background()
	in, err := l.pool.get(ctx, ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.pool.put(ctx, in, true)
	raw := in.(*rawInstance)
	msg := randomBytes(1 << 20)
	var after10 uint32
	for i := range leakCalls {
		n := len(msg) - i%7 // lengths vary, so the allocator cannot just hand the same block back
		out, err := raw.call(ctx, ExportEncode, msg[:n])
		if err != nil || len(out) != n || out[0] != msg[0]^0x5a {
			t.Fatalf("call %d: %d bytes, %v", i, len(out), err)
		}
		if i == 9 {
			after10 = raw.mem.Size()
		}
	}
	if end := raw.mem.Size(); end > after10 {
		t.Errorf("memory grew from %d to %d bytes over %d calls of 1 MiB: the kit leaks", after10, end, leakCalls)
	} else {
		t.Logf("memory: %d bytes after 10 calls, %d after %d", after10, end, leakCalls)
	}
}

// TestRustKitAuthAllowlist: the allowlist example admits and refuses as
// the Go one, with its reason and log line, whatever the JSON looks like.
func TestRustKitAuthAllowlist(t *testing.T) {
	l, logs := openFile(t, rustExample(t, "auth"), Auth, map[string]string{"nodes": "node-b,nöde-ü"}, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	for _, c := range []struct {
		req   string
		allow bool
		node  string // the refused node
	}{
		{`{"method":"push","session":"s","caller":"container","source_node":"node-x","now":1}`, true, ""},
		{`{"method":"push","session":"s","caller":"partner","source_node":"node-b","now":1}`, true, ""},
		{`{"method":"pop","session":"s","caller":"partner","source_node":"node-x","now":1}`, false, "node-x"},
		// escapes, unicode, unknown fields of every kind, white space, key order
		{` { "extra" : {"a":[1,-2.5e3,{"b":null},[]],"c":"\u0000\"}"} , "source_node":"n\u00f6de-\u00fc", "caller":"p\u0061rtner","now":-9223372036854775808,"method":"push","session":"s","z":[true,false,null]}` + "\n", true, ""},
		{`{"caller":"partner","source_node":"\"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 \ud800x <&>","session":"s","method":"push","now":0}`, false, "\"q\"\\/\b\f\n\r\t\u00e9\U0001F600 \uFFFDx <&>"},
		{`{"caller":"partner","source_node":"节点-😀","session":"s","method":"push","now":0}`, false, "节点-😀"},
		{`{"caller":"partner","session":"s","method":"push","now":0}`, false, ""},
	} {
		d, _ := kitAuthorize(t, l, []byte(c.req))
		want := AuthDecision{Allow: c.allow}
		if !c.allow {
			want.Reason = "node " + c.node + " is not on the allow-list"
		}
		if d.Allow != want.Allow || d.Reason != want.Reason || d.Headers != nil || d.TTLms != 0 {
			t.Errorf("authorize(%s) = %+v, want %+v", c.req, d, want)
		}
		if !c.allow && !logs.has("refused partner "+c.node) {
			t.Errorf("no log line %q for %s; log:\n%s", "refused partner "+c.node, c.req, logs)
		}
	}
	// Without config, an empty source node is on the empty list, as in Go.
	l2, _ := openFile(t, rustExample(t, "auth"), Auth, nil, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	if d, _ := kitAuthorize(t, l2, []byte(`{"caller":"partner","source_node":"node-b"}`)); d.Allow {
		t.Errorf("no nodes configured, yet node-b was admitted: %+v", d)
	}
	if d, _ := kitAuthorize(t, l2, []byte(`{"caller":"partner"}`)); !d.Allow {
		t.Errorf("no nodes configured: an empty source node was refused (Go admits it): %+v", d)
	}
}

// TestRustKitRouteHello: the hello example answers GET /hello and passes
// on everything else, whatever the JSON looks like.
func TestRustKitRouteHello(t *testing.T) {
	path := rustExample(t, "route")
	body := randomBytes(1 << 20)
	b64 := base64.StdEncoding.EncodeToString(body)
	for _, c := range []struct {
		config map[string]string
		name   string
	}{{nil, "mesh"}, {map[string]string{"name": "nöde \"b\" 😀\\"}, "nöde \"b\" 😀\\"}} {
		l, _ := openFile(t, path, Route, c.config, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
		hello := RouteResponse{Action: ActionRespond, Status: 200, Headers: map[string]string{"content-type": "text/plain; charset=utf-8"}, Body: []byte("Hello from " + c.name + "\n")}
		for _, req := range []string{
			`{"method":"GET","path":"/hello"}`,
			`{"method":"\u0047ET","path":"\/hello","query":"a=1&b=\u00e9","headers":{"x-a":"1","accept":"*/*"},"remote_addr":"10.0.0.1","tls_identity":"node-b","unknown":{"deep":[[[{}]]]}}`,
			`{"path":"/hello","body":"` + b64 + `","method":"GET"}`,
		} {
			if got, out := kitHandle(t, l, []byte(req)); !routeEqual(got, hello) {
				t.Errorf("%s: handle(%.120s) = %s, want %+v", c.name, req, out, hello)
			}
		}
		for _, req := range []string{
			`{"method":"POST","path":"/hello"}`,
			`{"method":"GET","path":"/hello/"}`,
			`{"method":"GET","path":"/hell\u006f\ud83d"}`,
			`{"method":"GET","path":"/other","body":"` + b64 + `"}`,
		} {
			if _, out := kitHandle(t, l, []byte(req)); string(out) != `{"action":"next"}` {
				t.Errorf("handle(%.120s) = %s, want {\"action\":\"next\"}", req, out)
			}
		}
	}
	// A body that is not base64 is bad input: the call fails.
	l, _ := openFile(t, path, Route, nil, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	bad := []byte(`{"method":"GET","path":"/hello","body":"` + b64[:1000] + "*" + b64[1001:] + `"}`)
	if _, err := l.call(context.Background(), ExportHandle, bad); err == nil {
		t.Errorf("a body with a '*' in its base64 was accepted")
	}
}

// routeEqual compares two responses field by field.
func routeEqual(a, b RouteResponse) bool {
	return a.Action == b.Action && a.Status == b.Status && a.Target == b.Target && bytes.Equal(a.Body, b.Body) && fmt.Sprint(a.Headers) == fmt.Sprint(b.Headers)
}

// echoRoute is a route plugin that answers every request with what it
// read of it, and an auth policy that returns the request it read as its
// reason, so the tests see the kit's JSON reader and writer from outside.
const echoRoute = `mod mesh_plugin;
use mesh_plugin::{RouteRequest, RouteResponse};
fn handle(r: RouteRequest) -> Result<RouteResponse, String> {
    if r.path == "/fail" {
        return Err(format!("failed on \"{}\"", r.query));
    }
    let mut resp = RouteResponse::respond(201, r.body.clone());
    resp.headers = r.headers.clone();
    resp.headers.insert("x-method".to_string(), r.method);
    resp.headers.insert("x-path".to_string(), r.path);
    resp.headers.insert("x-query".to_string(), r.query);
    resp.headers.insert("x-remote".to_string(), r.remote_addr);
    resp.headers.insert("x-tls".to_string(), r.tls_identity);
    Ok(resp)
}
mesh_plugin::route!(handle);
`

const echoAuth = `mod mesh_plugin;
use mesh_plugin::{json::Writer, AuthDecision, AuthRequest, ToJson};
fn policy(r: AuthRequest) -> Result<AuthDecision, String> {
    let mut w = Writer::new();
    r.write(&mut w);
    let mut d = AuthDecision::allow();
    d.reason = w.finish();
    d.ttl_ms = r.now;
    d.headers.insert("x-token".to_string(), r.token);
    Ok(d)
}
mesh_plugin::auth!(policy);
`

// buildRustSource builds a one-file Rust plugin (its lib.rs) with the
// kit's build.sh.
func buildRustSource(t *testing.T, src string) string {
	t.Helper()
	return buildSource(t, "rust", "lib.rs", src)
}

// TestRustKitJSONEcho: what Go's encoding/json writes, the kit reads, and
// what the kit writes, Go reads back the same.
func TestRustKitJSONEcho(t *testing.T) {
	route, _ := openFile(t, buildRustSource(t, echoRoute), Route, nil, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	auth, _ := openFile(t, buildRustSource(t, echoAuth), Auth, nil, Options{Pool: 1, TimeoutMs: hugeTimeoutMs})
	big := randomBytes(1<<20 + 1)
	for i, s := range jsonWeird {
		valid := strings.ToValidUTF8(s, "\uFFFD")
		req := RouteRequest{Method: "M" + s, Path: "/p" + s, Query: s, Headers: map[string]string{"h" + s: s, "x": "1"}, Body: []byte(s), RemoteAddr: s, TLSIdentity: s}
		if i == 0 {
			req.Body = big
		}
		got, _ := kitHandle(t, route, mustJSON(t, req))
		want := map[string]string{"h" + valid: valid, "x": "1", "x-method": "M" + valid, "x-path": "/p" + valid, "x-query": valid, "x-remote": valid, "x-tls": valid}
		if got.Action != ActionRespond || got.Status != 201 || !bytes.Equal(got.Body, req.Body) || fmt.Sprint(got.Headers) != fmt.Sprint(want) {
			t.Errorf("route echo of %q: %+v (body %d bytes), want headers %q", s, got.Headers, len(got.Body), want)
		}
		areq := AuthRequest{Method: s, Session: s, Topic: s, Path: s, SourceNode: s, TargetNode: s, Token: s, RemoteAddr: s, TLSIdentity: s, Caller: s, Now: int64(i) - 3}
		d, _ := kitAuthorize(t, auth, mustJSON(t, areq))
		var back AuthRequest
		if err := json.Unmarshal([]byte(d.Reason), &back); err != nil {
			t.Fatalf("auth echo of %q: the kit wrote %q: %v", s, d.Reason, err)
		}
		wantReq := AuthRequest{Method: valid, Session: valid, Topic: valid, Path: valid, SourceNode: valid, TargetNode: valid, Token: valid, RemoteAddr: valid, TLSIdentity: valid, Caller: valid, Now: int64(i) - 3}
		if back != wantReq || d.TTLms != wantReq.Now || (valid != "" && d.Headers["x-token"] != valid) {
			t.Errorf("auth echo of %q: %+v (ttl %d, headers %q), want %+v", s, back, d.TTLms, d.Headers, wantReq)
		}
		if valid == "" && !strings.Contains(d.Reason, `"method":""`) || strings.Contains(d.Reason, `"topic":""`) {
			t.Errorf("auth echo: omit-when-empty wrong in %s", d.Reason)
		}
	}
	// An Err of the handler fails the call with its message.
	if _, err := route.call(context.Background(), ExportHandle, []byte(`{"method":"GET","path":"/fail","query":"q"}`)); err == nil {
		t.Error("a handler returning Err did not fail the call")
	}
	// Malformed documents fail the call and never crash the instance.
	for _, bad := range []string{``, `{`, `{"method":`, `{"method":"x`, `{"method":"\u12"}`, `{"method":"\x"}`, `[]`, `{"now":1.5}`, `{"now":99999999999999999999}`, `{"a":1}x`, `{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "{\"method\":\"a\x01\"}"} {
		if _, err := auth.call(context.Background(), ExportAuthorize, []byte(bad)); err == nil {
			t.Errorf("authorize(%q) succeeded", bad)
		}
	}
	if d, _ := kitAuthorize(t, auth, []byte(`{"a":`+strings.Repeat("[", 60)+strings.Repeat("]", 60)+`,"token":"t"}`)); d.Headers["x-token"] != "t" {
		t.Errorf("nested unknown field: %+v", d)
	}
}

// cargoEnv is an environment for an offline cargo with a private home.
func cargoEnv(t *testing.T) []string {
	return append(os.Environ(), "RUSTC=/usr/bin/rustc", "CARGO_HOME="+t.TempDir(), "CARGO_TARGET_DIR="+t.TempDir(), "RUSTFLAGS=", "CARGO_BUILD_TARGET=")
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// checkKind inspects the module at path and checks it is a plugin of kind k.
func checkKind(t *testing.T, path string, k Kind) {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	m, err := e.Inspect(context.Background(), wasm, Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if got, err := KindOf(m, ""); err != nil || got != k {
		t.Errorf("%s (%d bytes, exports %v) is kind %q (%v), want %q", path, m.Size, m.Exports, got, err, k)
	}
}

// TestRustKitNewProject: the project mesh plugin new writes (kits.Write,
// the generator itself) for each kind builds with cargo offline into one
// module of its kind. cmd/mesh's TestPluginNew builds it with ./build.sh,
// tests and installs it; the Cargo build is checked here only.
func TestRustKitNewProject(t *testing.T) {
	if _, err := os.Stat("/usr/bin/cargo"); err != nil {
		t.Skip("no /usr/bin/cargo")
	}
	for _, kind := range []string{"codec", "auth", "route"} {
		dir := filepath.Join(t.TempDir(), "my-"+kind)
		if _, err := kits.Write(dir, kits.Project{Name: "my-" + kind, Kind: kind, Lang: "rust"}); err != nil {
			t.Fatalf("%s: writing the new project: %v", kind, err)
		}
		cargoBuild(t, dir, Kind(kind), kind+": the new project")
		// The example's own Cargo.toml, in the same layout, builds too.
		toml := readFile(t, rustKit+"/examples/"+kind+"/Cargo.toml")
		if err := os.WriteFile(filepath.Join(dir, "Cargo.toml"), []byte(toml), 0o644); err != nil {
			t.Fatal(err)
		}
		cargoBuild(t, dir, Kind(kind), kind+": the example's Cargo.toml")
	}
}

// cargoBuild builds the Cargo project in dir offline for wasm32 and checks
// that it makes one module, of kind k; what names the project in errors.
func cargoBuild(t *testing.T, dir string, k Kind, what string) {
	t.Helper()
	env := cargoEnv(t)
	cmd := exec.Command("/usr/bin/cargo", "build", "--offline", "--release", "--target", "wasm32-unknown-unknown")
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: cargo build: %v\n%s", what, err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(envValue(env, "CARGO_TARGET_DIR"), "wasm32-unknown-unknown", "release", "*.wasm"))
	if len(matches) != 1 {
		t.Fatalf("%s: cargo build made %q, want one module", what, matches)
	}
	checkKind(t, matches[0], k)
}
