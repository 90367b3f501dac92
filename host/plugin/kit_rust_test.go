package plugin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
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

// logBuffer collects an engine's log lines, safely for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// loadWasm loads the module at path in a new engine as kind k, returning
// the plugin (nil with the load error) and the engine's log.
func loadWasm(tb testing.TB, path string, k Kind, config map[string]string, o Options) (*loaded, *logBuffer, error) {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &logBuffer{}
	e, err := NewEngine(cacheDir(tb), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := e.load(context.Background(), Record{Name: "rust-" + string(k), Kind: k, Config: config, Options: o}, wasm)
	if err != nil {
		e.Close(context.Background())
		return nil, logs, err
	}
	tb.Cleanup(func() { l.pool.retire(context.Background()); e.Close(context.Background()) })
	return l, logs, nil
}

// openWasm is loadWasm failing tb when the plugin does not load.
func openWasm(tb testing.TB, path string, k Kind, config map[string]string, o Options) (*loaded, *logBuffer) {
	tb.Helper()
	l, logs, err := loadWasm(tb, path, k, config, o)
	if err != nil {
		tb.Fatalf("loading %s: %v", path, err)
	}
	return l, logs
}

// rustExample builds the Rust kit's example of kind.
func rustExample(tb testing.TB, kind string) string {
	tb.Helper()
	return plugintest.LangOf(tb, "rust").Example(tb, kind)
}

// importModules lists the modules the wasm file at path imports functions from.
func importModules(t *testing.T, path string) map[string][]string {
	t.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	mods := map[string][]string{}
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		mods[mod] = append(mods[mod], name)
	}
	return mods
}

// TestRustKitImports: the codec imports nothing but WASI (ABI.md §2.5),
// the Extism kinds import the kernel.
func TestRustKitImports(t *testing.T) {
	for _, kind := range []string{"codec", "auth", "route"} {
		path := rustExample(t, kind)
		mods := importModules(t, path)
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

// xorWith is the expected output of the xor codec.
func xorWith(b []byte, k byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ k
	}
	return out
}

// TestRustKitCodecXor: the xor example encodes and decodes as the Go one.
func TestRustKitCodecXor(t *testing.T) {
	path := rustExample(t, "codec")
	ctx := context.Background()
	big := make([]byte, 1<<20)
	rand.Read(big)
	for _, c := range []struct {
		config map[string]string
		key    byte
	}{{nil, 0x5a}, {map[string]string{"key": "7"}, 7}, {map[string]string{"key": "0"}, 0}} {
		l, _ := openWasm(t, path, Codec, c.config, Options{Pool: 1})
		for _, in := range [][]byte{nil, []byte("x"), []byte("hello, mesh!"), big} {
			for _, fn := range []string{ExportEncode, ExportDecode} {
				out, err := l.call(ctx, fn, in)
				if err != nil {
					t.Fatalf("key %#x: %s of %d bytes: %v", c.key, fn, len(in), err)
				}
				if want := xorWith(in, c.key); !bytes.Equal(out, want) {
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
		l, _, err := loadWasm(t, path, Codec, map[string]string{"key": s}, Options{Pool: 1})
		k, perr := strconv.ParseUint(s, 0, 8)
		if perr != nil {
			want := fmt.Sprintf("xor: key must be a byte (0-255), got %q", s)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("key %q: load error %v, want one saying %s", s, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("key %q (%d): %v", s, k, err)
			continue
		}
		if out, err := l.call(ctx, ExportEncode, []byte{0, 0xff}); err != nil || !bytes.Equal(out, []byte{byte(k), ^byte(k)}) {
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
		// A generous deadline: the machine running the tests may be busy.
		l, _ := openWasm(t, path, Codec, map[string]string{"key": c.key}, Options{Pool: 1, MaxMemoryMB: c.maxMB, TimeoutMs: 120000})
		out, err := l.call(context.Background(), ExportEncode, in)
		if err != nil {
			t.Fatalf("key %s: %d bytes: %v", c.key, len(in), err)
		}
		if !bytes.Equal(out, xorWith(in, c.k)) {
			t.Fatalf("key %s: %d bytes came back wrong", c.key, len(in))
		}
	}
}

// TestRustKitCodecNoLeak: 10,000 calls of 1 MiB leave the instance's
// memory where the first ten left it.
func TestRustKitCodecNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("10 GiB through the codec")
	}
	l, _ := openWasm(t, rustExample(t, "codec"), Codec, nil, Options{Pool: 1})
	ctx := context.Background()
	in, err := l.pool.get(ctx, ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.pool.put(ctx, in, true)
	raw := in.(*rawInstance)
	msg := make([]byte, 1<<20)
	rand.Read(msg)
	var after10 uint32
	for i := range 10000 {
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
		t.Errorf("memory grew from %d to %d bytes over 10,000 calls of 1 MiB: the kit leaks", after10, end)
	} else {
		t.Logf("memory: %d bytes after 10 calls, %d after 10,000", after10, end)
	}
}

// authCall asks the plugin about req and decodes its decision strictly.
func authCall(t *testing.T, l *loaded, req []byte) AuthDecision {
	t.Helper()
	out, err := l.call(context.Background(), ExportAuthorize, req)
	if err != nil {
		t.Fatalf("authorize(%.200s): %v", req, err)
	}
	var d AuthDecision
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("authorize(%.200s) gave %q: %v", req, out, err)
	}
	return d
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRustKitAuthAllowlist: the allowlist example admits and refuses as
// the Go one, with its reason and log line, whatever the JSON looks like.
func TestRustKitAuthAllowlist(t *testing.T) {
	extism.SetLogLevel(extism.LogLevelInfo) // the kernel drops guest log lines below this level
	l, logs := openWasm(t, rustExample(t, "auth"), Auth, map[string]string{"nodes": "node-b,nöde-ü"}, Options{Pool: 1})
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
		d := authCall(t, l, []byte(c.req))
		want := AuthDecision{Allow: c.allow}
		if !c.allow {
			want.Reason = "node " + c.node + " is not on the allow-list"
		}
		if d.Allow != want.Allow || d.Reason != want.Reason || d.Headers != nil || d.TTLms != 0 {
			t.Errorf("authorize(%s) = %+v, want %+v", c.req, d, want)
		}
		if !c.allow && !strings.Contains(logs.String(), strconv.Quote("refused partner "+c.node)) && !strings.Contains(logs.String(), "msg=\"refused partner "+c.node) {
			t.Errorf("no log line %q for %s; log:\n%s", "refused partner "+c.node, c.req, logs)
		}
	}
	// Without config, an empty source node is on the empty list, as in Go.
	l2, _ := openWasm(t, rustExample(t, "auth"), Auth, nil, Options{Pool: 1})
	if d := authCall(t, l2, []byte(`{"caller":"partner","source_node":"node-b"}`)); d.Allow {
		t.Errorf("no nodes configured, yet node-b was admitted: %+v", d)
	}
	if d := authCall(t, l2, []byte(`{"caller":"partner"}`)); !d.Allow {
		t.Errorf("no nodes configured: an empty source node was refused (Go admits it): %+v", d)
	}
}

// routeCall asks the plugin to handle req and decodes its answer strictly.
func routeCall(t *testing.T, l *loaded, req []byte) (RouteResponse, []byte) {
	t.Helper()
	out, err := l.call(context.Background(), ExportHandle, req)
	if err != nil {
		t.Fatalf("handle(%.200s): %v", req, err)
	}
	var r RouteResponse
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("handle(%.200s) gave %q: %v", req, out, err)
	}
	return r, out
}

// TestRustKitRouteHello: the hello example answers GET /hello and passes
// on everything else, whatever the JSON looks like.
func TestRustKitRouteHello(t *testing.T) {
	path := rustExample(t, "route")
	body := make([]byte, 1<<20)
	rand.Read(body)
	b64 := base64.StdEncoding.EncodeToString(body)
	for _, c := range []struct {
		config map[string]string
		name   string
	}{{nil, "mesh"}, {map[string]string{"name": "nöde \"b\" 😀\\"}, "nöde \"b\" 😀\\"}} {
		l, _ := openWasm(t, path, Route, c.config, Options{Pool: 1})
		hello := RouteResponse{Action: ActionRespond, Status: 200, Headers: map[string]string{"content-type": "text/plain; charset=utf-8"}, Body: []byte("Hello from " + c.name + "\n")}
		for _, req := range []string{
			`{"method":"GET","path":"/hello"}`,
			`{"method":"\u0047ET","path":"\/hello","query":"a=1&b=\u00e9","headers":{"x-a":"1","accept":"*/*"},"remote_addr":"10.0.0.1","tls_identity":"node-b","unknown":{"deep":[[[{}]]]}}`,
			`{"path":"/hello","body":"` + b64 + `","method":"GET"}`,
		} {
			if got, out := routeCall(t, l, []byte(req)); !routeEqual(got, hello) {
				t.Errorf("%s: handle(%.120s) = %s, want %+v", c.name, req, out, hello)
			}
		}
		for _, req := range []string{
			`{"method":"POST","path":"/hello"}`,
			`{"method":"GET","path":"/hello/"}`,
			`{"method":"GET","path":"/hell\u006f\ud83d"}`,
			`{"method":"GET","path":"/other","body":"` + b64 + `"}`,
		} {
			if _, out := routeCall(t, l, []byte(req)); string(out) != `{"action":"next"}` {
				t.Errorf("handle(%.120s) = %s, want {\"action\":\"next\"}", req, out)
			}
		}
	}
	// A body that is not base64 is bad input: the call fails.
	l, _ := openWasm(t, path, Route, nil, Options{Pool: 1})
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

// buildRustSource builds a one-file Rust plugin with the kit's build.sh.
func buildRustSource(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lib.rs"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "plugin.wasm")
	if b, err := exec.Command("sh", rustKit+"/build.sh", dir, out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	return out
}

// weird are strings that exercise JSON escaping both ways.
var weird = []string{"", "plain", "\"quoted\" \\back\\ /slash/", "\x00\x01\x1f\x7f\n\r\t\b\f", "é节😀\u2028\u2029", "<&>", strings.Repeat("ab\"", 1000), "\xff invalid"}

// TestRustKitJSONEcho: what Go's encoding/json writes, the kit reads, and
// what the kit writes, Go reads back the same.
func TestRustKitJSONEcho(t *testing.T) {
	route, _ := openWasm(t, buildRustSource(t, echoRoute), Route, nil, Options{Pool: 1})
	auth, _ := openWasm(t, buildRustSource(t, echoAuth), Auth, nil, Options{Pool: 1})
	big := make([]byte, 1<<20+1)
	rand.Read(big)
	for i, s := range weird {
		valid := strings.ToValidUTF8(s, "\uFFFD")
		req := RouteRequest{Method: "M" + s, Path: "/p" + s, Query: s, Headers: map[string]string{"h" + s: s, "x": "1"}, Body: []byte(s), RemoteAddr: s, TLSIdentity: s}
		if i == 0 {
			req.Body = big
		}
		got, _ := routeCall(t, route, mustJSON(t, req))
		want := map[string]string{"h" + valid: valid, "x": "1", "x-method": "M" + valid, "x-path": "/p" + valid, "x-query": valid, "x-remote": valid, "x-tls": valid}
		if got.Action != ActionRespond || got.Status != 201 || !bytes.Equal(got.Body, req.Body) || fmt.Sprint(got.Headers) != fmt.Sprint(want) {
			t.Errorf("route echo of %q: %+v (body %d bytes), want headers %q", s, got.Headers, len(got.Body), want)
		}
		areq := AuthRequest{Method: s, Session: s, Topic: s, Path: s, SourceNode: s, TargetNode: s, Token: s, RemoteAddr: s, TLSIdentity: s, Caller: s, Now: int64(i) - 3}
		d := authCall(t, auth, mustJSON(t, areq))
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
	if d := authCall(t, auth, []byte(`{"a":`+strings.Repeat("[", 60)+strings.Repeat("]", 60)+`,"token":"t"}`)); d.Headers["x-token"] != "t" {
		t.Errorf("nested unknown field: %+v", d)
	}
}

// cargoEnv is an environment for an offline cargo with a private home.
func cargoEnv(t *testing.T) []string {
	return append(os.Environ(), "RUSTC=/usr/bin/rustc", "CARGO_HOME="+t.TempDir(), "CARGO_TARGET_DIR="+t.TempDir(), "RUSTFLAGS=", "CARGO_BUILD_TARGET=")
}

// TestRustKitCargoBuild: each example, laid out as in a new project (the
// kit beside lib.rs), builds with cargo offline and exports its kind.
func TestRustKitCargoBuild(t *testing.T) {
	if _, err := os.Stat("/usr/bin/cargo"); err != nil {
		t.Skip("no /usr/bin/cargo")
	}
	for _, kind := range []string{"codec", "auth", "route"} {
		dir := t.TempDir()
		for _, f := range []string{"examples/" + kind + "/lib.rs", "examples/" + kind + "/Cargo.toml", "mesh_plugin.rs"} {
			copyFile(t, filepath.Join(rustKit, f), filepath.Join(dir, filepath.Base(f)))
		}
		env := cargoEnv(t)
		cmd := exec.Command("/usr/bin/cargo", "build", "--offline", "--release", "--target", "wasm32-unknown-unknown")
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cargo build of the %s example: %v\n%s", kind, err, out)
		}
		matches, _ := filepath.Glob(filepath.Join(envValue(env, "CARGO_TARGET_DIR"), "wasm32-unknown-unknown", "release", "*.wasm"))
		if len(matches) != 1 {
			t.Fatalf("cargo build of the %s example made %q", kind, matches)
		}
		checkKind(t, matches[0], Kind(kind))
	}
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

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// TestRustKitNewProject follows new/manifest as mesh plugin new does and
// builds the project with ./build.sh . NAME.wasm, and with cargo.
func TestRustKitNewProject(t *testing.T) {
	f, err := os.Open(rustKit + "/new/manifest")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for _, kind := range []string{"codec", "auth", "route"} {
		dir := t.TempDir()
		name := "my-" + kind
		for _, l := range lines {
			src, dest, ok := strings.Cut(l, " ")
			if !ok {
				t.Fatalf("manifest line %q is not SRC DEST", l)
			}
			src = filepath.Join(rustKit, strings.ReplaceAll(src, "{kind}", kind))
			dest = filepath.Join(dir, strings.TrimSpace(dest))
			os.MkdirAll(filepath.Dir(dest), 0o755)
			if strings.HasSuffix(src, ".tmpl") {
				tm := template.Must(template.ParseFiles(src))
				var b bytes.Buffer
				if err := tm.Execute(&b, map[string]string{"Name": name, "Kind": kind, "Lang": "rust"}); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(dest, b.Bytes(), 0o644)
			} else if info, err := os.Stat(src); err != nil || info.IsDir() {
				t.Fatalf("manifest source %s: %v (directories are not used by this kit)", src, err)
			} else {
				copyFile(t, src, dest)
			}
		}
		cmd := exec.Command("./build.sh", ".", name+".wasm")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: ./build.sh . %s.wasm: %v\n%s", kind, name, err, out)
		}
		checkKind(t, filepath.Join(dir, name+".wasm"), Kind(kind))
		if _, err := os.Stat("/usr/bin/cargo"); err == nil {
			cmd := exec.Command("/usr/bin/cargo", "build", "--offline", "--release", "--target", "wasm32-unknown-unknown")
			cmd.Dir, cmd.Env = dir, cargoEnv(t)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: cargo build in the new project: %v\n%s", kind, err, out)
			}
		}
	}
}

// BenchmarkRustKitCodec: one xor call through the engine, identity (key
// 0, no copy in the guest) and XORed, at 1 KiB and 64 KiB.
func BenchmarkRustKitCodec(b *testing.B) {
	path := rustExample(b, "codec")
	for _, key := range []string{"0", "0x5a"} {
		l, _ := openWasm(b, path, Codec, map[string]string{"key": key}, Options{Pool: 1})
		for _, n := range []int{1 << 10, 64 << 10} {
			in := make([]byte, n)
			b.Run(fmt.Sprintf("key=%s/%dKiB", key, n>>10), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					if _, err := l.call(ctx, ExportEncode, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
