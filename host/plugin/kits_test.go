package plugin

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The plugin kits (sdk/plugin/{go,c,rust,assemblyscript}) declare the
// exports of the kinds table in their own languages. Each kit's test reads
// its sources for the names it exports, by a pattern of its language, and
// checks them here against the kinds table, so renaming an export in
// kind.go (and the WIT, which TestWitWorldsMatchKinds ties to it) fails
// every kit that still exports the old name.

// kitExports returns the export names pattern finds in src: the first
// submatch of each match.
func kitExports(src string, pattern *regexp.Regexp) []string {
	var out []string
	for _, m := range pattern.FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkKitExports compares what a kit exports with the kinds table: every
// export of every kind (required and optional) must be exported by the
// kit, and the kit must export nothing else that looks like a plugin
// export (a name in none of the kinds).
func checkKitExports(kit string, exports []string) []string {
	var problems []string
	known := map[string]bool{}
	for _, s := range Kinds {
		for _, x := range slices.Concat(s.Exports, s.Optional) {
			known[x] = true
			if !slices.Contains(exports, x) {
				problems = append(problems, fmt.Sprintf("the %s kit does not export %q (kind %s, world %s)", kit, x, s.Kind, s.World))
			}
		}
	}
	for _, x := range exports {
		if !known[x] {
			problems = append(problems, fmt.Sprintf("the %s kit exports %q, which no kind in the kinds table has", kit, x))
		}
	}
	return problems
}

// assertKitExports fails t when the exports found in the kit's sources
// disagree with the kinds table; it also checks that the check notices a
// missing and a stray name, so a pattern that finds nothing cannot pass.
func assertKitExports(t *testing.T, kit string, exports []string) {
	t.Helper()
	if problems := checkKitExports(kit, exports); len(problems) > 0 {
		t.Errorf("the %s kit and the kinds table (kind.go) disagree (found %v):\n%s", kit, exports, strings.Join(problems, "\n"))
	}
	if len(exports) == 0 {
		t.Fatalf("found no exports in the %s kit: its pattern is broken", kit)
	}
	if p := checkKitExports(kit, exports[1:]); len(p) == 0 {
		t.Errorf("dropping %q from the %s kit went unnoticed", exports[0], kit)
	}
	if p := checkKitExports(kit, append(slices.Clone(exports), "mesh_reset")); len(p) == 0 {
		t.Errorf("a stray export in the %s kit went unnoticed", kit)
	}
}

// TestGoKitExports: the Go kit's //go:wasmexport names.
func TestGoKitExports(t *testing.T) {
	var src strings.Builder
	for _, f := range []string{"codec/exports_wasm.go", "auth/export_wasm.go", "route/export_wasm.go"} {
		src.WriteString(readFile(t, "../../sdk/plugin/go/"+f))
	}
	assertKitExports(t, "go", kitExports(src.String(), regexp.MustCompile(`(?m)^//go:wasmexport (\w+)`)))
}
