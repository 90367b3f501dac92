package plugintest

import (
	"fmt"
	"slices"
	"testing"
)

// Lang is one plugin kit: its language, its folder (with examples/codec,
// examples/auth and examples/route) and how to build a plugin in it.
type Lang struct {
	Name  string // as mesh plugin new --lang says it
	Dir   string // the kit's folder, relative to the repository root
	build func(dir, out string) (string, error)
}

// Langs are the plugin kits, one per language.
var Langs = []Lang{
	{"go", "sdk/plugin/go", compile},
	{"c", "sdk/plugin/c", buildC},
	{"rust", "sdk/plugin/rust", buildRust},
	{"assemblyscript", "sdk/plugin/assemblyscript", buildAssemblyScript},
}

// LangOf returns the kit called name.
func LangOf(tb testing.TB, name string) Lang {
	tb.Helper()
	i := slices.IndexFunc(Langs, func(l Lang) bool { return l.Name == name })
	if i < 0 {
		tb.Fatalf("plugintest: no kit for language %q", name)
	}
	return Langs[i]
}

// Build builds the plugin in dir (relative to the repository root) with
// this kit's toolchain, once per process, and returns the .wasm path.
func (l Lang) Build(tb testing.TB, dir string) string {
	tb.Helper()
	return l.Start(dir).Wait(tb)
}

// Start starts building the plugin in dir, or returns the build under way.
func (l Lang) Start(dir string) *Job { return Once(l.Name+":"+dir, dir, l.build) }

// ExampleDir is the folder of the kit's example of kind ("codec", "auth"
// or "route").
func (l Lang) ExampleDir(kind string) string { return fmt.Sprintf("%s/examples/%s", l.Dir, kind) }

// Example builds the kit's example of kind.
func (l Lang) Example(tb testing.TB, kind string) string {
	tb.Helper()
	return l.Build(tb, l.ExampleDir(kind))
}
