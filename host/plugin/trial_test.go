package plugin

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// trial loads the Go guest in dir with Engine.Trial, as `mesh plugin test`
// does.
func trial(t *testing.T, dir string, k Kind, config map[string]string, o Options) (*Trial, error) {
	t.Helper()
	_, wasm := plugintest.BuildBytes(t, dir)
	e, err := NewEngine(cacheDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	tr, err := e.Trial(context.Background(), wasm, k, config, o)
	if err == nil {
		t.Cleanup(func() { tr.Close(context.Background()) })
	}
	return tr, err
}

// mustTrial is trial failing the test on an error.
func mustTrial(t *testing.T, dir string, k Kind, config map[string]string, o Options) *Trial {
	t.Helper()
	tr, err := trial(t, dir, k, config, o)
	if err != nil {
		t.Fatalf("trial %s: %v", dir, err)
	}
	return tr
}

// TestTrialExamples: the SDK's three examples load with their kind found
// from their exports and behave through the trial as on a node.
func TestTrialExamples(t *testing.T) {
	ctx := context.Background()
	c := mustTrial(t, "sdk/plugin/go/examples/codec", "", map[string]string{"key": "1"}, Options{})
	if c.Kind != Codec || c.Timeout() != Kinds[0].Timeout || c.MaxMemoryMB() != DefaultMaxMemoryMB {
		t.Fatalf("codec trial: kind %s, timeout %v, cap %d", c.Kind, c.Timeout(), c.MaxMemoryMB())
	}
	enc, err := c.Encode(ctx, []byte("abc"))
	if err != nil || string(enc) != "`cb" {
		t.Fatalf("encode: %q %v", enc, err)
	}
	if dec, err := c.Decode(ctx, enc); err != nil || string(dec) != "abc" {
		t.Fatalf("decode: %q %v", dec, err)
	}

	a := mustTrial(t, "sdk/plugin/go/examples/auth", "", map[string]string{"nodes": "node-b"}, Options{})
	if a.Kind != Auth {
		t.Fatalf("auth trial: kind %s", a.Kind)
	}
	for _, c := range []struct {
		source string
		allow  bool
		reason string
	}{{"node-b", true, ""}, {"node-c", false, "node node-c is not on the allow-list"}} {
		d, err := a.Authorize(ctx, AuthRequest{Method: "push", Caller: "partner", SourceNode: c.source, TLSIdentity: c.source})
		if err != nil || d.Allow != c.allow || d.Reason != c.reason {
			t.Fatalf("authorize %s: %+v %v", c.source, d, err)
		}
	}

	r := mustTrial(t, "sdk/plugin/go/examples/route", "", map[string]string{"name": "trial"}, Options{Prefixes: []string{"/hello"}})
	resp, err := r.Handle(ctx, RouteRequest{Method: "GET", Path: "/hello"})
	if err != nil || r.Kind != Route || resp.Action != ActionRespond || resp.Status != 200 || string(resp.Body) != "Hello from trial\n" {
		t.Fatalf("handle GET /hello: %+v %v", resp, err)
	}
	if resp, err := r.Handle(ctx, RouteRequest{Method: "POST", Path: "/hello", Body: []byte("x")}); err != nil || resp.Action != ActionNext {
		t.Fatalf("handle POST /hello: %+v %v", resp, err)
	}
}

// TestTrialCatches: each misbehaviour fails its check with a message that
// says what happened, and the trial's next call still works.
func TestTrialCatches(t *testing.T) {
	ctx := context.Background()
	const hostileCodec, hostileAuth = "host/plugin/testdata/hostile/codec", "host/plugin/testdata/hostile/auth"
	// Only the loops get a short deadline: on a busy machine a bomb may
	// not reach the cap within it.
	fast := mustTrial(t, hostileCodec, Codec, nil, Options{TimeoutMs: 500, Pool: 1})
	if _, err := fast.Encode(ctx, []byte("loop")); err == nil || err.Error() != "encode ran past its deadline of 500ms" {
		t.Errorf("encode loop: %v", err)
	}
	codec := mustTrial(t, hostileCodec, Codec, nil, Options{MaxMemoryMB: 32, Pool: 1})
	for _, c := range []struct{ input, want string }{
		{"trap", "encode trapped: wasm error: unreachable"},
		{"oob", "encode trapped: wasm error: out of bounds memory access"},
		{"bomb", "encode hit the memory cap of 32 MiB (raise --max-memory if it needs more): wasm error: unreachable"},
		{"error", `encode failed: the plugin returned the error "hostile: error"`},
		{"garbage", "encode failed: encode returned 2147483647 bytes at 2147483632, outside the guest's"},
	} {
		_, err := codec.Encode(ctx, []byte(c.input))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("encode %q: %v, want %q...", c.input, err, c.want)
		}
		if out, err := codec.Encode(ctx, []byte("fine")); err != nil || string(out) != "fine" {
			t.Errorf("encode after %q: %q %v", c.input, out, err)
		}
	}

	fastAuth := mustTrial(t, hostileAuth, "", nil, Options{TimeoutMs: 500, Pool: 1})
	if _, err := fastAuth.Authorize(ctx, AuthRequest{Method: "push", Caller: "container", Token: "mode:loop"}); err == nil ||
		err.Error() != "authorize ran past its deadline of 500ms" {
		t.Errorf("authorize loop: %v", err)
	}
	auth := mustTrial(t, hostileAuth, "", nil, Options{TimeoutMs: 10000, MaxMemoryMB: 64, Pool: 1})
	for _, c := range []struct{ mode, want string }{
		{"garbage", "authorize answered something that is not an auth decision"},
		{"error", "authorize failed: hostile: error"},
		{"trap", "authorize trapped: "},
		{"bomb", "authorize hit the memory cap of 64 MiB (raise --max-memory if it needs more): "},
	} {
		_, err := auth.Authorize(ctx, AuthRequest{Method: "push", Caller: "container", Token: "mode:" + c.mode})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("authorize mode %s: %v, want %q...", c.mode, err, c.want)
		}
	}
	if d, err := auth.Authorize(ctx, AuthRequest{Method: "push", Caller: "container", Token: "mode:deny"}); err != nil || d.Allow || d.Reason != "hostile: deny" {
		t.Errorf("authorize mode deny: %+v %v", d, err)
	}

	grants := mustTrial(t, "host/plugin/testdata/hostile/grants", Route, nil, Options{})
	if _, err := grants.Handle(ctx, RouteRequest{Method: "GET", Path: "/grants/garbage"}); err == nil ||
		!strings.Contains(err.Error(), "route handler trial answered unknown action") {
		t.Errorf("handle garbage: %v", err)
	}
}

// TestTrialRefuses: a module that is not WebAssembly, not of the kind
// asked, or rejects its configuration fails the check that says so.
func TestTrialRefuses(t *testing.T) {
	for _, c := range []struct {
		dir    string
		k      Kind
		config map[string]string
		o      Options
		want   string
	}{
		{"sdk/plugin/go/examples/route", Codec, nil, Options{}, "exports: module is not a codec plugin: it lacks the export(s) mesh_alloc, encode, decode"},
		{"sdk/plugin/go/examples/codec", "", map[string]string{"key": "300"}, Options{}, `load: configure: xor: key must be a byte (0-255), got "300"`},
		{"sdk/plugin/go/examples/route", "", nil, Options{Prefixes: []string{"/healthz"}}, `prefixes: prefix "/healthz" is inside the node's own endpoints`},
		{"sdk/plugin/go/examples/codec", "", nil, Options{Prefixes: []string{"/x"}}, "prefixes: prefixes are for route handlers, not a codec"},
	} {
		if _, err := trial(t, c.dir, c.k, c.config, c.o); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s as %q: %v, want %q...", c.dir, c.k, err, c.want)
		}
	}
	e, err := NewEngine("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	for _, c := range []struct {
		wasm []byte
		want string
	}{
		{[]byte("#!/bin/sh\necho hi\n"), "not a WebAssembly module"},
		{append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0xff}, 8)...), "not a valid WebAssembly module"},
	} {
		if _, err := e.Trial(context.Background(), c.wasm, "", nil, Options{}); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("trial of %q: %v, want %q...", c.wasm, err, c.want)
		}
	}
}

// TestTrialMemoryCapWithoutAWord: C, Rust and AssemblyScript guests trap
// silently when memory cannot grow; an input that cannot fit under the cap
// is still reported as the memory cap, not as a bare trap.
func TestTrialMemoryCapWithoutAWord(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.LangOf(t, "c").Example(t, "codec"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(cacheDir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	tr, err := e.Trial(t.Context(), wasm, Codec, nil, Options{MaxMemoryMB: 16, Pool: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close(context.Background())
	_, err = tr.Encode(t.Context(), make([]byte, 20<<20))
	if err == nil || !strings.HasPrefix(err.Error(), "encode hit the memory cap of 16 MiB") {
		t.Fatalf("20 MiB under a 16 MiB cap: %v", err)
	}
	if out, err := tr.Encode(t.Context(), []byte("fits")); err != nil || len(out) != 4 {
		t.Fatalf("after: %q %v", out, err)
	}
}
