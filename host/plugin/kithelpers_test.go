package plugin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// The helpers every kit's tests share (kit_c_test.go, kit_rust_test.go,
// kit_assemblyscript_test.go, and the Go kit's through open): loading a
// built module in the real engine with its log kept, the xor example's
// reference, a module's imports, an instance's memory, calling and
// decoding the Extism kinds, building a plugin from inline source.

// kitLog is a slog handler that keeps every line an engine logs, as
// "LEVEL message key=value ...", safely for concurrent callers.
type kitLog struct {
	mu    sync.Mutex
	lines []string
}

// Enabled keeps every level: a guest's debug lines too.
func (l *kitLog) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps r as one line, its attributes unquoted.
func (l *kitLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	return nil
}

// WithAttrs drops attrs (the plugin's name): the tests look for messages.
func (l *kitLog) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup ignores the group.
func (l *kitLog) WithGroup(string) slog.Handler { return l }

// has reports whether some kept line contains s.
func (l *kitLog) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(x string) bool { return strings.Contains(x, s) })
}

// String is the kept lines, one a line, for failure messages.
func (l *kitLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// loadFile loads the module at path (built by any kit) as kind k, in an
// engine of its own that logs to the returned log, as a node loads it:
// the same pool, deadline and cap. It returns the load's error (and the
// log) when the plugin does not load.
func loadFile(tb testing.TB, path string, k Kind, config map[string]string, o Options) (*loaded, *kitLog, error) {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	log := &kitLog{}
	e, err := NewEngine(cacheDir(tb), slog.New(log))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := e.load(context.Background(), Record{Name: strings.TrimSuffix(filepath.Base(path), ".wasm"), Kind: k, Config: config, Options: o}, wasm)
	if err != nil {
		e.Close(context.Background())
		return nil, log, err
	}
	tb.Cleanup(func() { l.pool.retire(context.Background()); e.Close(context.Background()) })
	return l, log, nil
}

// openFile is loadFile failing tb when the plugin does not load.
func openFile(tb testing.TB, path string, k Kind, config map[string]string, o Options) (*loaded, *kitLog) {
	tb.Helper()
	l, log, err := loadFile(tb, path, k, config, o)
	if err != nil {
		tb.Fatalf("loading %s as %s: %v", path, k, err)
	}
	return l, log
}

// leakCalls is how many calls of 1 MiB the no-leak tests make. A leak of
// the input per call passes the default 256 MiB cap within ~256 calls and
// traps; a smaller one grows the memory by a 64 KiB page at least every
// 64 KiB leaked, which the tests see by comparing its size: 1,000 calls
// prove what 10,000 did, in a tenth of the time.
const leakCalls = 1000

// hugeTimeoutMs is the deadline of the kits' tests that feed big inputs
// (128 MiB payloads, 1 MiB JSON documents): generous, as the defaults
// (codec 10 s, auth 2 s) are not enough under -race on a busy machine. The
// tests of deadlines set their own.
const hugeTimeoutMs = 120000

// xorRef is what the xor example makes of in with key k: every byte
// XORed, in a new slice.
func xorRef(in []byte, k byte) []byte {
	out := make([]byte, len(in))
	for i, b := range in {
		out[i] = b ^ k
	}
	return out
}

// randomBytes is n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// mustJSON is v as JSON, failing tb when it cannot be marshalled.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// jsonWeird are strings that stress a kit's JSON reader and writer:
// escapes, control characters, non-ASCII, a long one, invalid UTF-8.
var jsonWeird = []string{"", "plain", "\"quoted\" \\back\\ /slash/", "\x00\x01\x1f\x7f\n\r\t\b\f", "é节😀\u2028\u2029", "<&>", strings.Repeat("ab\"", 1000), "\xff invalid"}

// wasmImports lists what the module at path imports, as "module.name":
// its functions, and its memories apart.
func wasmImports(tb testing.TB, path string) (funcs, memories []string) {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		funcs = append(funcs, mod+"."+name)
	}
	for _, x := range m.ImportedMemories() {
		mod, name, _ := x.Import()
		memories = append(memories, mod+"."+name)
	}
	return funcs, memories
}

// instanceMemory is the linear memory size of the idle instance of the
// codec l (pool 1), taken from the pool and put back.
func instanceMemory(tb testing.TB, l *loaded) uint32 {
	tb.Helper()
	in, err := l.pool.get(context.Background(), context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	defer l.pool.put(context.Background(), in, true)
	raw, ok := in.(*rawInstance)
	if !ok {
		tb.Fatalf("instance is a %T, not a raw codec", in)
	}
	return raw.mem.Size()
}

// decodeStrict decodes out into v, refusing fields v does not have.
func decodeStrict(out []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// kitCall calls fn of the Extism plugin l with the JSON document in and
// decodes its output strictly as a T; it returns the value and the output.
func kitCall[T any](tb testing.TB, l *loaded, fn string, in []byte) (T, []byte) {
	tb.Helper()
	var v T
	out, err := l.call(context.Background(), fn, in)
	if err != nil {
		tb.Fatalf("%s %.200s: %v", fn, in, err)
	}
	if err := decodeStrict(out, &v); err != nil {
		tb.Fatalf("%s %.200s: output %.200q is not a %T: %v", fn, in, out, v, err)
	}
	return v, out
}

// kitAuthorize asks the auth plugin l about the JSON request in; it
// returns the decision and the output.
func kitAuthorize(tb testing.TB, l *loaded, in []byte) (AuthDecision, []byte) {
	tb.Helper()
	return kitCall[AuthDecision](tb, l, ExportAuthorize, in)
}

// kitHandle asks the route plugin l to handle the JSON request in; it
// returns the response and the output.
func kitHandle(tb testing.TB, l *loaded, in []byte) (RouteResponse, []byte) {
	tb.Helper()
	return kitCall[RouteResponse](tb, l, ExportHandle, in)
}

// loadXorKey loads the xor example at path with config key and checks
// the load against Go's reading of key (strconv.ParseUint(key, 0, 8), as
// the Go example reads it): a key Go refuses must fail the load with the
// Go example's message, one it reads must load. It returns the plugin
// (pool 1) and the key, or nil when it did not load (tb has been told if
// it should have).
func loadXorKey(tb testing.TB, path, key string) (*loaded, byte) {
	tb.Helper()
	l, _, err := loadFile(tb, path, Codec, map[string]string{"key": key}, Options{Pool: 1})
	k, perr := strconv.ParseUint(key, 0, 8)
	switch {
	case perr != nil:
		want := fmt.Sprintf("xor: key must be a byte (0-255), got %q", key)
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			tb.Errorf("key %q: load error %v, want one ending in %s", key, err, want)
		}
		return nil, 0
	case err != nil:
		tb.Errorf("key %q (%d): %v", key, k, err)
	}
	return l, byte(k)
}

// buildSource writes src as the one source file name of a plugin in a
// temporary directory of tb, builds it with the build.sh of the kit of
// lang (sdk/plugin/LANG) and returns the module's path.
func buildSource(tb testing.TB, lang, name, src string) string {
	tb.Helper()
	root, err := plugintest.Root()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, "plugin.wasm")
	if b, err := exec.Command("sh", filepath.Join(root, "sdk/plugin", lang, "build.sh"), dir, out).CombinedOutput(); err != nil {
		tb.Fatalf("build %s with sdk/plugin/%s/build.sh: %v\n%s", name, lang, err, b)
	}
	return out
}
