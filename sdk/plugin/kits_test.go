package kits

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// TestParseManifest reads items with their line numbers, skips blank and
// comment lines, and names the kit and line of each bad line.
func TestParseManifest(t *testing.T) {
	items, err := ParseManifest("x", []byte("# a comment\n\nexamples/{kind}  .\n  new/README.md.tmpl README.md  \r\nbuild.sh build.sh\n"))
	want := []Item{{3, "examples/{kind}", "."}, {4, "new/README.md.tmpl", "README.md"}, {5, "build.sh", "build.sh"}}
	if err != nil || !reflect.DeepEqual(items, want) {
		t.Fatalf("ParseManifest: %+v %v", items, err)
	}
	for line, wantErr := range map[string]string{
		"build.sh":              `want "SRC DEST", got 1 fields`,
		"a b c":                 `want "SRC DEST", got 3 fields`,
		"/etc/passwd x":         `SRC "/etc/passwd": want a clean relative path`,
		"a ../x":                `DEST "../x": want a clean relative path`,
		"a b/../../x":           `DEST "b/../../x": want a clean relative path`,
		"a/./b x":               `SRC "a/./b": want a clean relative path`,
		"a x/":                  `DEST "x/": want a clean relative path`,
		"examples/{name} x":     `SRC "examples/{name}": the only placeholder is {kind}`,
		"examples/{kind x":      `SRC "examples/{kind": the only placeholder is {kind}`,
		`new\README.md x`:       `SRC "new\\README.md": use / to separate folders`,
		". x":                   `SRC ".": name what to copy`,
		"examples/{kind}/ main": `SRC "examples/{kind}/": want a clean relative path`,
	} {
		_, err := ParseManifest("x", []byte("build.sh build.sh\n"+line+"\n"))
		if err == nil || !strings.Contains(err.Error(), "kit x: new/manifest:2: "+wantErr) {
			t.Errorf("line %q: %v; want %q", line, err, wantErr)
		}
	}
	if _, err := ParseManifest("x", []byte("# nothing\n")); err == nil || err.Error() != "kit x: new/manifest lists no files" {
		t.Errorf("empty manifest: %v", err)
	}
}

// kit is a small kit "zz" next to a kit "go", in memory.
func kit(manifest string) fstest.MapFS {
	return fstest.MapFS{
		"go/new/manifest":                {Data: []byte("main.go main.go\n")},
		"go/main.go":                     {Data: []byte("package main\n")},
		"zz/new/manifest":                {Data: []byte(manifest)},
		"zz/new/README.md.tmpl":          {Data: []byte("# {{.Name}}: a {{.Kind}} in {{.Lang}}\n")},
		"zz/new/bad.tmpl":                {Data: []byte("{{.Nope}}")},
		"zz/build.sh":                    {Data: []byte("#!/bin/sh\n")},
		"zz/examples/codec/main.zz":      {Data: []byte("codec\n")},
		"zz/examples/codec/lib/x.zz":     {Data: []byte("lib\n")},
		"zz/examples/codec/x_test.go":    {Data: []byte("package x\n")},
		"zz/examples/codec/plugin.wasm":  {Data: []byte("\x00asm")},
		"zz/examples/codec/tools/run.sh": {Data: []byte("#!/bin/sh\n")},
		"zz/examples/auth/main.zz":       {Data: []byte("auth\n")},
		"zz/examples/empty/x_test.go":    {Data: []byte("package x\n")},
		"zz/t_test.go":                   {Data: []byte("package x\n")},
		"nokit/README.md":                {Data: []byte("no manifest\n")},
	}
}

// TestFiles expands {kind}, copies folders without tests or build
// outputs, executes templates, makes scripts executable, and names the
// line of any item it cannot make.
func TestFiles(t *testing.T) {
	fsys := kit("examples/{kind} src\nnew/README.md.tmpl README.md\nbuild.sh build.sh\n")
	if got := langsOf(fsys); !reflect.DeepEqual(got, []string{"go", "zz"}) {
		t.Fatalf("langsOf: %v", got)
	}
	fl, err := filesOf(fsys, Project{Name: "my-codec", Kind: "codec", Lang: "zz"})
	want := []File{
		{"src/lib/x.zz", 0o644, []byte("lib\n")},
		{"src/main.zz", 0o644, []byte("codec\n")},
		{"src/tools/run.sh", 0o755, []byte("#!/bin/sh\n")},
		{"README.md", 0o644, []byte("# my-codec: a codec in zz\n")},
		{"build.sh", 0o755, []byte("#!/bin/sh\n")},
		{"test.sh", 0o755, testSh(t, Project{Name: "my-codec", Kind: "codec", Lang: "zz"})},
	}
	if err != nil || !reflect.DeepEqual(fl, want) {
		t.Fatalf("filesOf:\n%+v %v\nwant\n%+v", fl, err, want)
	}
	if fl, err := filesOf(fsys, Project{Name: "a", Kind: "auth", Lang: "zz"}); err != nil || string(fl[0].Data) != "auth\n" || fl[0].Path != "src/main.zz" {
		t.Fatalf("kind auth: %+v %v", fl, err)
	}
	for _, c := range []struct {
		manifest string
		p        Project
		want     string
	}{
		{"build.sh b.sh\nexamples/{kind} .\n", Project{"a", "route", "zz"}, "kit zz: new/manifest:2: examples/route: not in the kit"},
		{"build.sh x\nbuild.sh x\n", Project{"a", "codec", "zz"}, "kit zz: new/manifest:2: x is written by line 1 already"},
		{"examples/codec .\nexamples/auth .\n", Project{"a", "codec", "zz"}, "kit zz: new/manifest:2: main.zz is written by line 1 already"},
		{"new/bad.tmpl bad\n", Project{"a", "codec", "zz"}, "kit zz: new/manifest:1: template: new/bad.tmpl:1:2: executing"},
		{"build.sh .\n", Project{"a", "codec", "zz"}, `kit zz: new/manifest:1: build.sh is a file: DEST must name a file, not "."`},
		{"t_test.go t_test.go\n", Project{"a", "codec", "zz"}, "kit zz: new/manifest:1: t_test.go: test files are not copied"},
		{"examples/empty x\n", Project{"a", "codec", "zz"}, "kit zz: new/manifest:1: examples/empty: no files to copy"},
		{"build.sh x y\n", Project{"a", "codec", "zz"}, `kit zz: new/manifest:1: want "SRC DEST", got 3 fields`},
		{"build.sh b\n", Project{"a", "codec", "cobol"}, `no kit for language "cobol" (known: go, zz)`},
		{"build.sh b\n", Project{"a", "codec", "nokit"}, `no kit for language "nokit"`},
		{"build.sh b\n", Project{"A", "codec", "zz"}, `plugin name "A"`},
		{"build.sh b\n", Project{"a", "../x", "zz"}, `plugin kind "../x"`},
	} {
		_, err := filesOf(kit(c.manifest), c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("manifest %q, %+v: %v; want %q", c.manifest, c.p, err, c.want)
		}
	}
}

// TestCheckName takes 1-63 lowercase letters, digits and dashes starting
// with a letter.
func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "hello", "my-codec-2", "a" + strings.Repeat("b", 62)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A", "1a", "-a", "a_b", "a.b", "a b", "é", "a" + strings.Repeat("b", 63), "a/b"} {
		if err := CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) passed", bad)
		}
	}
}

// TestWrite writes into a new or empty folder, refuses one in use, and
// takes back what it wrote when it fails half way.
func TestWrite(t *testing.T) {
	good := []File{{"build.sh", 0o755, []byte("#!/bin/sh\n")}, {"src/main.zz", 0o644, []byte("x")}}
	bad := append(slices.Clone(good), File{"build.sh/under-a-file", 0o644, nil}) // cannot be made
	root := t.TempDir()
	defer syscall.Umask(syscall.Umask(0o077)) // modes are the files', whatever the umask

	dir := filepath.Join(root, "new", "p")
	if got, err := writeFiles(dir, good); err != nil || !reflect.DeepEqual(got, []string{"build.sh", "src/main.zz"}) {
		t.Fatalf("writeFiles: %v %v", got, err)
	}
	for _, f := range good {
		info, err := os.Stat(filepath.Join(dir, f.Path))
		data, _ := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil || info.Mode().Perm() != f.Mode || !bytes.Equal(data, f.Data) {
			t.Fatalf("%s: %v %v %q", f.Path, info, err, data)
		}
	}
	if _, err := writeFiles(dir, good); err == nil || !strings.Contains(err.Error(), dir+" exists and is not empty") {
		t.Fatalf("writeFiles into a folder in use: %v", err)
	}

	twice := filepath.Join(root, "twice") // never replace a file, even one written just now
	if _, err := writeFiles(twice, []File{good[0], good[0]}); err == nil || !strings.Contains(err.Error(), "file exists") {
		t.Fatalf("writeFiles of one path twice: %v", err)
	}

	gone := filepath.Join(root, "gone")
	if _, err := writeFiles(gone, bad); err == nil {
		t.Fatal("writeFiles of an impossible file succeeded")
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Fatalf("a failed write left %s: %v", gone, err)
	}
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := writeFiles(empty, bad); err == nil {
		t.Fatal("writeFiles of an impossible file succeeded")
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Fatalf("a failed write into an empty folder left %v %v", entries, err)
	}
}

// TestKits: every embedded kit with a manifest makes a project of every
// kind; the Go kit's is its example and its packages as they are in the
// repository, without tests.
func TestKits(t *testing.T) {
	langs := Langs()
	if len(langs) == 0 || langs[0] != "go" {
		t.Fatalf("Langs: %v", langs)
	}
	for _, lang := range langs {
		for _, kind := range []string{"codec", "auth", "route"} {
			fl, err := Files(Project{Name: "p", Kind: kind, Lang: lang})
			if err != nil {
				t.Errorf("%s %s: %v", lang, kind, err)
				continue
			}
			paths := map[string]bool{}
			for _, f := range fl {
				paths[f.Path] = true
			}
			for _, want := range []string{"build.sh", "README.md", "test.sh"} {
				if !paths[want] {
					t.Errorf("%s %s: no %s in %v", lang, kind, want, paths)
				}
			}
		}
	}
	for _, kind := range []string{"codec", "auth", "route"} {
		fl, err := Files(Project{Name: "p", Kind: kind, Lang: "go"})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fl {
			src, ok := goSource(f.Path, kind)
			if !ok {
				continue
			}
			want, err := os.ReadFile(src)
			if err != nil || !bytes.Equal(f.Data, want) {
				t.Errorf("%s in a %s project differs from %s: %v", f.Path, kind, src, err)
			}
		}
		for src := range goFiles(t) {
			if !slices.ContainsFunc(fl, func(f File) bool { s, _ := goSource(f.Path, kind); return s == src }) {
				t.Errorf("a %s project lacks %s", kind, src)
			}
		}
		if slices.ContainsFunc(fl, func(f File) bool { return strings.HasSuffix(f.Path, "_test.go") }) {
			t.Errorf("a %s project holds a test file", kind)
		}
	}
}

// goSource is the repository file a Go project's file copies, if any.
func goSource(p, kind string) (string, bool) {
	if p == "main.go" {
		return filepath.Join("go", "examples", kind, "main.go"), true
	}
	rest, ok := strings.CutPrefix(p, "mesh-kit/sdk/plugin/")
	return filepath.FromSlash(rest), ok
}

// goFiles are the non-test Go files of the Go kit's packages.
func goFiles(t *testing.T) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, pkg := range []string{"codec", "auth", "route", "pdk", "internal/fakehost"} {
		names, err := filepath.Glob(filepath.Join("go", filepath.FromSlash(pkg), "*.go"))
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: %v %v", pkg, names, err)
		}
		for _, n := range names {
			if !strings.HasSuffix(n, "_test.go") {
				m[n] = true
			}
		}
	}
	return m
}

// testSh is the test.sh of p.
func testSh(t *testing.T, p Project) []byte {
	t.Helper()
	b, err := execute("test.sh", testScript, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTestScript: every project's test.sh builds its module and tests it
// with the flags its kind's example needs (a route handler under /hello,
// else it would only ever answer next), and so do the commands printed.
func TestTestScript(t *testing.T) {
	for _, tc := range []struct {
		p             Project
		test, install string
	}{
		{Project{Name: "x", Kind: "codec", Lang: "c"}, "mesh plugin test x.wasm --kind codec", "mesh plugin install x.wasm --kind codec"},
		{Project{Name: "hi", Kind: "route", Lang: "rust"}, "mesh plugin test hi.wasm --kind route --prefix /hello", "mesh plugin install hi.wasm --kind route --prefix /hello"},
	} {
		sh := string(testSh(t, tc.p))
		if !strings.Contains(sh, "\n./build.sh . "+tc.p.Name+".wasm\n") || !strings.HasSuffix(sh, "\nexec \"${MESH:-mesh}\" "+strings.TrimPrefix(tc.test, "mesh ")+"\n") {
			t.Errorf("test.sh of %+v:\n%s", tc.p, sh)
		}
		if tc.p.Test() != tc.test || tc.p.Install() != tc.install {
			t.Errorf("%+v: Test %q, Install %q", tc.p, tc.p.Test(), tc.p.Install())
		}
	}
}
