package plugin

import (
	"context"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// TestOneCompilePerModule: installing a module (Inspect, then load) compiles
// it once, and a second engine on the same cache directory — another node of
// the same test binary, or the node after a restart — compiles nothing.
// wazero keys its cache by the module's bytes and the close-on-context-done
// flag, so an Inspect that ran without the flag compiled every module twice.
func TestOneCompilePerModule(t *testing.T) {
	_, wasm := plugintest.BuildBytes(t, "plugins/gzip")
	dir := t.TempDir()
	installOn(t, dir, wasm)
	if n := plugintest.CacheEntries(t, dir); n != 1 {
		t.Fatalf("one install left %d compiled modules in the cache, want 1 (Inspect and load compiled it separately)", n)
	}
	installOn(t, dir, wasm)
	if n := plugintest.CacheEntries(t, dir); n != 1 {
		t.Fatalf("a second engine on the same cache left %d compiled modules, want 1", n)
	}
}

// installOn does what an install does on a fresh engine whose cache is dir.
func installOn(t *testing.T, dir string, wasm []byte) {
	t.Helper()
	ctx := context.Background()
	e, err := NewEngine(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if _, err := e.Inspect(ctx, wasm, Options{}); err != nil {
		t.Fatal(err)
	}
	l, err := e.load(ctx, Record{Name: "gzip", Kind: Codec}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	l.pool.retire(ctx)
}
