package meshtest

import (
	"os"
	"sync"
	"testing"
)

// The nodes of one test binary share one plugin compilation cache, so a
// module is compiled once per binary, not once per node: wazero keys the
// cache by the module's bytes (and its own version), so nodes that install
// different modules, or the same module with other settings, cannot see
// each other's code. It is a directory and not an in-memory cache because
// wazero drops a module's in-memory code when the last runtime using it
// closes, which is what a node does when its test ends.
var pluginCache struct {
	once sync.Once
	dir  string
	err  error
}

// PluginCache returns the directory of the compilation cache this test
// binary's nodes share, creating it on first use. Start sets it as the
// node's Config.PluginCache unless the test chose one.
func PluginCache(tb testing.TB) string {
	tb.Helper()
	pluginCache.once.Do(func() {
		pluginCache.dir, pluginCache.err = os.MkdirTemp("", "mesh-plugin-cache-")
	})
	if pluginCache.err != nil {
		tb.Fatalf("shared plugin compilation cache: %v", pluginCache.err)
	}
	return pluginCache.dir
}

// Cleanup removes the shared compilation cache. Call it from TestMain after
// m.Run, once no node runs any more.
func Cleanup() {
	if pluginCache.dir != "" {
		_ = os.RemoveAll(pluginCache.dir)
	}
}
