// Package kits holds the files of the plugin kits (one folder per language:
// go, c, rust, assemblyscript) and writes new plugin projects from them, for
// `mesh plugin new`.
//
// Each kit says what a new project holds in its new/manifest: one item a
// line, "SRC DEST". SRC is a path in the kit's folder where {kind} stands
// for the plugin's kind (codec, auth or route); DEST is a path in the new
// project. A SRC folder is copied with everything under it (except Go test
// files and .wasm build outputs); a SRC file ending in .tmpl is a
// text/template executed with .Name, .Kind and .Lang. Blank lines and lines
// starting with # are ignored. The kits' examples are the templates: a new
// project starts as the kit's example of its kind.
package kits

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// files are the kits, by explicit patterns so that nothing a build or an
// editor leaves in a kit's folder (a .wasm, a Rust target/, node_modules)
// is embedded: the Go kit's packages; every kit's build.sh and README.md,
// the C header, the Rust module, the AssemblyScript package files and
// glue; every kit's new/ folder and its examples' sources.
//
//go:embed go/codec/*.go go/auth/*.go go/route/*.go go/pdk/*.go go/internal/fakehost/*.go
//go:embed */build.sh */README.md */new/*
//go:embed c/mesh_plugin.h rust/mesh_plugin.rs
//go:embed assemblyscript/package.json assemblyscript/package-lock.json assemblyscript/assembly/*.ts
//go:embed go/examples/*/*.go c/examples/*/*.c rust/examples/*/*.rs rust/examples/*/Cargo.toml assemblyscript/examples/*/*.ts
var files embed.FS

// testScript is every project's test.sh: build, then mesh plugin test with
// the flags the kind's example needs.
//
//go:embed test.sh.tmpl
var testScript string

// ManifestFile is where a kit lists what a new project holds, relative to
// the kit's folder.
const ManifestFile = "new/manifest"

// Known languages come in this order, the others after them by name.
var preferred = []string{"go", "c", "rust", "assemblyscript"}

// validName is what a plugin's name may be: it names the project folder,
// the Go module and the .wasm file, and is a valid installed plugin name.
var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// validKind is what a kind may be: it is put into paths.
var validKind = regexp.MustCompile(`^[a-z]+$`)

// CheckName returns an error saying what a plugin name must be when name is
// not one.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("plugin name %q: use 1-63 lowercase letters, digits and dashes, starting with a letter", name)
	}
	return nil
}

// Langs are the languages of the embedded kits that can make a new
// project (those with a new/manifest).
func Langs() []string {
	return langsOf(files)
}

// langsOf lists the kits of fsys with a manifest, preferred ones first.
func langsOf(fsys fs.FS) []string {
	entries, _ := fs.ReadDir(fsys, ".")
	var langs []string
	for _, e := range entries {
		if _, err := fs.Stat(fsys, path.Join(e.Name(), ManifestFile)); e.IsDir() && err == nil {
			langs = append(langs, e.Name())
		}
	}
	rank := func(l string) int {
		if i := slices.Index(preferred, l); i >= 0 {
			return i
		}
		return len(preferred)
	}
	slices.SortStableFunc(langs, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return langs
}

// Item is one line of a manifest.
type Item struct {
	Line      int    // 1-based line number in the manifest
	Src, Dest string // as written: Src may hold {kind}
}

// ParseManifest reads a manifest. kit names the kit in errors. Each line
// that is neither blank nor a # comment must be exactly "SRC DEST" with
// SRC a path inside the kit (which may hold {kind}) and DEST a path inside
// the project ("." for its root, when SRC is a folder).
func ParseManifest(kit string, data []byte) ([]Item, error) {
	var items []Item
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		it, err := parseItem(line)
		if err != nil {
			return nil, fmt.Errorf("kit %s: %s:%d: %w", kit, ManifestFile, n, err)
		}
		it.Line = n
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kit %s: %s: %w", kit, ManifestFile, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("kit %s: %s lists no files", kit, ManifestFile)
	}
	return items, nil
}

// parseItem checks one "SRC DEST" line.
func parseItem(line string) (Item, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return Item{}, fmt.Errorf("want \"SRC DEST\", got %d fields in %q", len(f), line)
	}
	it := Item{Src: f[0], Dest: f[1]}
	for _, p := range []struct{ what, v string }{{"SRC", it.Src}, {"DEST", it.Dest}} {
		if err := checkPath(p.v); err != nil {
			return Item{}, fmt.Errorf("%s %q: %w", p.what, p.v, err)
		}
	}
	if it.Src == "." {
		return Item{}, fmt.Errorf("SRC \".\": name what to copy, not the whole kit")
	}
	return it, nil
}

// checkPath checks a manifest path: relative, clean, slash-separated, not
// leaving its folder, with no placeholder but {kind}.
func checkPath(p string) error {
	plain := strings.ReplaceAll(p, "{kind}", "kind")
	switch {
	case strings.ContainsAny(plain, "{}"):
		return errors.New("the only placeholder is {kind}")
	case strings.Contains(p, `\`):
		return errors.New("use / to separate folders")
	case !fs.ValidPath(plain):
		return errors.New("want a clean relative path that stays inside its folder")
	}
	return nil
}

// Project is what a new project is made for.
type Project struct {
	Name string // the plugin's name; see CheckName
	Kind string // codec, auth or route
	Lang string // a kit's language; see Langs
}

// flags are what mesh plugin test and install need besides the module: its
// kind, and for a route handler the prefixes it serves (every kit's route
// example answers /hello; tested under / alone, it would only ever say
// next).
func (p Project) flags() string {
	f := "--kind " + p.Kind
	if p.Kind == "route" {
		f += " --prefix /hello"
	}
	return f
}

// TestArgs are the arguments of mesh that test the project's plugin.
func (p Project) TestArgs() string { return fmt.Sprintf("plugin test %s.wasm %s", p.Name, p.flags()) }

// Test is the command that tests the project's plugin, for its README,
// its test.sh and what mesh plugin new prints.
func (p Project) Test() string { return "mesh " + p.TestArgs() }

// Install is the command that installs the project's plugin on a node.
func (p Project) Install() string {
	return fmt.Sprintf("mesh plugin install %s.wasm %s", p.Name, p.flags())
}

// File is one file of a new project.
type File struct {
	Path string // slash-separated, relative to the project folder
	Mode fs.FileMode
	Data []byte
}

// Files returns the files of a new project p, from its kit's manifest.
func Files(p Project) ([]File, error) {
	return filesOf(files, p)
}

// filesOf makes the files of p from the kits in fsys.
func filesOf(fsys fs.FS, p Project) ([]File, error) {
	if err := CheckName(p.Name); err != nil {
		return nil, err
	}
	if !validKind.MatchString(p.Kind) {
		return nil, fmt.Errorf("plugin kind %q: want lowercase letters", p.Kind)
	}
	langs := langsOf(fsys)
	if !slices.Contains(langs, p.Lang) {
		return nil, fmt.Errorf("no kit for language %q (known: %s)", p.Lang, strings.Join(langs, ", "))
	}
	kit, err := fs.Sub(fsys, p.Lang)
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(kit, ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("kit %s: %w", p.Lang, err)
	}
	items, err := ParseManifest(p.Lang, data)
	if err != nil {
		return nil, err
	}
	var out []File
	from := map[string]int{} // DEST path → manifest line
	for _, it := range items {
		fl, err := expand(kit, it, p)
		if err != nil {
			return nil, fmt.Errorf("kit %s: %s:%d: %w", p.Lang, ManifestFile, it.Line, err)
		}
		for _, f := range fl {
			if n, dup := from[f.Path]; dup {
				return nil, fmt.Errorf("kit %s: %s:%d: %s is written by line %d already", p.Lang, ManifestFile, it.Line, f.Path, n)
			}
			from[f.Path] = it.Line
		}
		out = append(out, fl...)
	}
	test, err := execute("test.sh", testScript, p)
	if err != nil {
		return nil, err
	}
	if n, dup := from["test.sh"]; dup {
		return nil, fmt.Errorf("kit %s: %s:%d: test.sh is every project's own, not a kit's", p.Lang, ManifestFile, n)
	}
	return append(out, File{Path: "test.sh", Mode: modeOf("test.sh"), Data: test}), nil
}

// expand turns one manifest item into files.
func expand(kit fs.FS, it Item, p Project) ([]File, error) {
	src := strings.ReplaceAll(it.Src, "{kind}", p.Kind)
	dest := strings.ReplaceAll(it.Dest, "{kind}", p.Kind)
	info, err := fs.Stat(kit, src)
	if err != nil {
		return nil, fmt.Errorf("%s: not in the kit", src)
	}
	if !info.IsDir() {
		if dest == "." {
			return nil, fmt.Errorf("%s is a file: DEST must name a file, not \".\"", src)
		}
		if strings.HasSuffix(src, "_test.go") {
			return nil, fmt.Errorf("%s: test files are not copied into projects", src)
		}
		f, err := one(kit, src, dest, p)
		return []File{f}, err
	}
	var out []File
	err = fs.WalkDir(kit, src, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || skipped(name) {
			return err
		}
		rel := strings.TrimPrefix(name, src+"/")
		data, err := fs.ReadFile(kit, name)
		out = append(out, File{Path: path.Join(dest, rel), Mode: modeOf(rel), Data: data})
		return err
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: no files to copy", src)
	}
	return out, err
}

// skipped reports whether a file under a copied folder stays out of
// projects: Go tests and build outputs.
func skipped(name string) bool {
	return strings.HasSuffix(name, "_test.go") || strings.HasSuffix(name, ".wasm")
}

// one makes the file dest from the kit's file src, executing it as a
// template when src ends in .tmpl.
func one(kit fs.FS, src, dest string, p Project) (File, error) {
	data, err := fs.ReadFile(kit, src)
	if err != nil {
		return File{}, err
	}
	if strings.HasSuffix(src, ".tmpl") {
		if data, err = execute(src, string(data), p); err != nil {
			return File{}, err
		}
	}
	return File{Path: dest, Mode: modeOf(dest), Data: data}, nil
}

// execute runs the template text (called name) for p.
func execute(name, text string, p Project) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// modeOf is the mode a project file gets: scripts are executable.
func modeOf(name string) fs.FileMode {
	if strings.HasSuffix(name, ".sh") {
		return 0o755
	}
	return 0o644
}

// Write creates the project p in dir and returns the paths it wrote,
// relative to dir. dir must not exist or be empty: nothing is ever
// overwritten. On failure what was written is removed again.
func Write(dir string, p Project) ([]string, error) {
	fl, err := Files(p)
	if err != nil {
		return nil, err
	}
	return writeFiles(dir, fl)
}

// writeFiles writes fl into dir, which must not exist or be empty.
func writeFiles(dir string, fl []File) (written []string, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return nil, fmt.Errorf("%s exists and is not empty: choose another name or --dir", dir)
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				_ = os.RemoveAll(dir)
			}
		}()
	default:
		return nil, err
	}
	defer func() {
		if err != nil { // dir was empty: take back what is in it
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}()
	for _, f := range fl {
		if err := writeFile(dir, f); err != nil {
			return nil, err
		}
		written = append(written, f.Path)
	}
	return written, nil
}

// writeFile creates one file under dir, refusing to replace any.
func writeFile(dir string, f File) error {
	name := filepath.Join(dir, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	w, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return err
	}
	if _, err := w.Write(f.Data); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.Chmod(name, f.Mode) // past the umask: scripts must run
}
