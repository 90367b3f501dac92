package plugin

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The contract of record and the runtime ABI beside it. These tests keep
// them in step with the kinds table (kind.go), the Export* constants and
// the JSON documents (wire.go). wit/check.sh checks that the WIT parses
// with a real WIT parser; the parser here only reads what the tests need.
const (
	witPath    = "../../wit/mesh-plugin.wit"
	abiDocPath = "../../wit/ABI.md"
)

func TestWitWorldsMatchKinds(t *testing.T) {
	if problems := checkWorlds(mustParseWIT(t, readFile(t, witPath)), Kinds); len(problems) > 0 {
		t.Errorf("%s and the kinds table (kind.go) disagree:\n%s", witPath, strings.Join(problems, "\n"))
	}

	// The comparison must notice each kind of drift.
	src := readFile(t, witPath)
	for _, tc := range []struct {
		name  string
		wit   string
		kinds []KindSpec
		want  []string // substrings of one problem each
	}{
		{
			name:  "optional export missing from WIT",
			wit:   dropLine(t, src, "export mesh-configure:"),
			kinds: Kinds,
			want:  []string{`"mesh_configure"`, "missing from the WIT"},
		},
		{
			name:  "WIT export missing from kinds table",
			wit:   replaceOnce(t, src, "world route-handler {", "world route-handler {\n    export mesh-reset: func();"),
			kinds: Kinds,
			want:  []string{`"mesh-reset"`, `"mesh_reset"`, "missing from the kinds table"},
		},
		{
			name:  "world renamed",
			wit:   replaceOnce(t, src, "world auth-policy {", "world auth-policies {"),
			kinds: Kinds,
			want:  []string{`world "auth-policy"`, "missing from the WIT"},
		},
		{
			name:  "kinds table grew an export",
			wit:   src,
			kinds: withOptional(Kinds, Codec, "mesh_reset"),
			want:  []string{`"mesh_reset"`, `"mesh-reset"`, "missing from the WIT"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := checkWorlds(mustParseWIT(t, tc.wit), tc.kinds)
			if !slices.ContainsFunc(problems, containsAll(tc.want)) {
				t.Errorf("no problem mentions %q; got:\n%s", tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}

func TestWitABIDocNamesEveryExport(t *testing.T) {
	consts := exportConstants(t)
	for _, name := range []string{"ExportMemory", "ExportAlloc", "ExportEncode", "ExportDecode",
		"ExportConfigure", "ExportInitialize", "ExportAuthorize", "ExportHandle"} {
		if _, ok := consts[name]; !ok {
			t.Fatalf("exportConstants found %v, not %s: the package parser is broken", slices.Sorted(maps.Keys(consts)), name)
		}
	}
	doc := readFile(t, abiDocPath)
	if problems := checkABIDoc(doc, consts); len(problems) > 0 {
		t.Errorf("%s is behind the Export* constants:\n%s", abiDocPath, strings.Join(problems, "\n"))
	}

	t.Run("row missing", func(t *testing.T) {
		problems := checkABIDoc(dropLine(t, doc, "`ExportHandle`"), consts)
		if !slices.ContainsFunc(problems, containsAll([]string{"ExportHandle", "`handle`"})) {
			t.Errorf("dropping ExportHandle's row went unnoticed; got %q", problems)
		}
	})
	t.Run("new constant", func(t *testing.T) {
		problems := checkABIDoc(doc, map[string]string{"ExportReset": "mesh_reset"})
		if len(problems) != 1 || !strings.Contains(problems[0], "ExportReset") {
			t.Errorf("an undocumented constant went unnoticed; got %q", problems)
		}
	})
}

func TestWitRecordsMatchWire(t *testing.T) {
	if problems := checkWire(mustParseWIT(t, readFile(t, witPath))); len(problems) > 0 {
		t.Errorf("%s and wire.go disagree:\n%s", witPath, strings.Join(problems, "\n"))
	}

	src := readFile(t, witPath)
	for _, tc := range []struct {
		name string
		wit  string
		want []string
	}{
		{"field renamed", replaceOnce(t, src, "ttl-ms: option<s64>", "ttl: option<s64>"), []string{"ttl_ms", "AuthDecision"}},
		{"optional field made required", replaceOnce(t, src, "topic: option<string>", "topic: string"), []string{"topic", "omitempty"}},
		{"route action added", replaceOnce(t, src, "next,\n", "next,\n        drop,\n"), []string{`"drop"`, "route-action"}},
		{"forward field removed", dropLine(t, src, "target: string,"), []string{"target", "RouteResponse"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := checkWire(mustParseWIT(t, tc.wit))
			if !slices.ContainsFunc(problems, containsAll(tc.want)) {
				t.Errorf("no problem mentions %q; got:\n%s", tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}

func TestWitParser(t *testing.T) {
	const src = `package test:p@1.0.0;

/* a block
   comment */
interface api {
    use other.{thing};
    type pair = tuple<string, u32>;
    /// a resource is skipped
    resource res {
        constructor(n: u32);
        get: func() -> u32;
    }
    record rec { a-b: option<list<u8>>, %type: result<_, string> }
    variant v { one(rec), two }
    enum e { x, y, }
    run: func(r: rec) -> result<list<u8>, string>; // trailing comment
}

world w {
    import wasi:cli/environment@0.2.0;
    import log: func(msg: string);
    import cfg: interface { get: func(k: string) -> option<string>; }
    use api.{rec};
    export api;
    export inline: interface { go-now: func(); }
    export %handle: func(a: u32, b: u32) -> u64;
}
`
	f := mustParseWIT(t, src)
	if got, want := f.worlds["w"], []string{"go-now", "handle", "run"}; !slices.Equal(sorted(got), want) {
		t.Errorf("world w exports %q, want %q", got, want)
	}
	if got, want := f.records["rec"], map[string]string{"a-b": "option<list<u8>>", "type": "result<_,string>"}; !maps.Equal(got, want) {
		t.Errorf("record rec = %q, want %q", got, want)
	}
	if got, want := f.variants["v"], map[string]string{"one": "rec", "two": ""}; !maps.Equal(got, want) {
		t.Errorf("variant v = %q, want %q", got, want)
	}
	if got := slices.Sorted(maps.Keys(f.variants["e"])); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("enum e = %q", got)
	}

	for _, bad := range []string{
		"world w { export other:pkg/iface; }", // not defined here
		"world w { export f: func(); ",        // unterminated
		"world w { exportt f: func(); }",      // typo
		"interface i { f func(); }",           // missing ':'
	} {
		if _, err := parseWIT(bad); err == nil {
			t.Errorf("parseWIT(%q) = nil error", bad)
		}
	}
}

// witFile is what the tests need of a WIT file. Names are in WIT spelling
// without the '%' escape.
type witFile struct {
	worlds     map[string][]string          // world → exported functions, directly or through interfaces
	interfaces map[string][]string          // interface → its functions
	records    map[string]map[string]string // record → field → type (tokens joined without spaces)
	variants   map[string]map[string]string // variant, enum or flags → case → payload type, "" for none
}

// abiName is the module export of a WIT function: '-' becomes '_'. The same
// rule maps WIT record fields to JSON fields.
func abiName(wit string) string { return strings.ReplaceAll(wit, "-", "_") }

// witName is the inverse of abiName.
func witName(abi string) string { return strings.ReplaceAll(abi, "_", "-") }

// checkWorlds compares the worlds of f with the kinds table: one message
// per function or world missing on either side.
func checkWorlds(f *witFile, kinds []KindSpec) []string {
	var problems []string
	claimed := map[string]bool{}
	for _, k := range kinds {
		claimed[k.World] = true
		fns, ok := f.worlds[k.World]
		if !ok {
			problems = append(problems, fmt.Sprintf("kind %s: world %q is missing from the WIT", k.Kind, k.World))
			continue
		}
		table := slices.Concat(k.Exports, k.Optional)
		for _, fn := range fns {
			if !slices.Contains(table, abiName(fn)) {
				problems = append(problems, fmt.Sprintf("kind %s: WIT world %q exports %q, but %q is missing from the kinds table (Exports or Optional)",
					k.Kind, k.World, fn, abiName(fn)))
			}
		}
		for _, name := range table {
			if !slices.ContainsFunc(fns, func(fn string) bool { return abiName(fn) == name }) {
				problems = append(problems, fmt.Sprintf("kind %s: kinds table export %q has no function %q in world %q: missing from the WIT",
					k.Kind, name, witName(name), k.World))
			}
		}
	}
	for _, w := range slices.Sorted(maps.Keys(f.worlds)) {
		if !claimed[w] {
			problems = append(problems, fmt.Sprintf("WIT world %q is the world of no kind: missing from the kinds table", w))
		}
	}
	return problems
}

// checkABIDoc reports each Export* constant that no line of the ABI doc
// names together with its value (as `ExportAlloc` … `mesh_alloc`).
func checkABIDoc(doc string, consts map[string]string) []string {
	lines := strings.Split(doc, "\n")
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(consts)) {
		want := []string{"`" + name + "`", "`" + consts[name] + "`"}
		if !slices.ContainsFunc(lines, containsAll(want)) {
			problems = append(problems, fmt.Sprintf("ABI.md: no line names %s together with %s", want[0], want[1]))
		}
	}
	return problems
}

// exportConstants returns every string constant named Export* declared in
// the package's non-test files, so a new export cannot be forgotten.
func exportConstants(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if !strings.HasPrefix(id.Name, "Export") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: constant %s is not a string literal", name, id.Name)
					}
					consts[id.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return consts
}

// checkWire compares the WIT records with the JSON documents of wire.go:
// field names by the '-'→'_' rule, option<…> with omitempty, and the
// route-action variant with the flattened RouteResponse.
func checkWire(f *witFile) []string {
	var problems []string
	for _, p := range []struct {
		record string
		typ    reflect.Type
	}{
		{"auth-request", reflect.TypeFor[AuthRequest]()},
		{"auth-decision", reflect.TypeFor[AuthDecision]()},
		{"route-request", reflect.TypeFor[RouteRequest]()},
	} {
		fields, ok := f.records[p.record]
		if !ok {
			problems = append(problems, fmt.Sprintf("record %s (wire.go %s) is missing from the WIT", p.record, p.typ.Name()))
			continue
		}
		json := jsonFields(p.typ)
		problems = append(problems, compareFields(p.record, p.typ.Name(), fields, json)...)
		for field, typ := range fields {
			if omit, ok := json[abiName(field)]; ok && omit != strings.HasPrefix(typ, "option<") {
				problems = append(problems, fmt.Sprintf("record %s field %s is %s in WIT, but %s.%s has omitempty=%t",
					p.record, field, typ, p.typ.Name(), abiName(field), omit))
			}
		}
	}
	return append(problems, checkRouteAction(f)...)
}

// checkRouteAction compares the route-action variant with the Action*
// constants and its cases' record fields with RouteResponse's fields.
func checkRouteAction(f *witFile) []string {
	cases, ok := f.variants["route-action"]
	if !ok {
		return []string{"variant route-action (wire.go RouteResponse) is missing from the WIT"}
	}
	var problems []string
	actions := []string{ActionRespond, ActionForward, ActionNext}
	for c := range cases {
		if !slices.Contains(actions, abiName(c)) {
			problems = append(problems, fmt.Sprintf("variant route-action has case %q, which no Action* constant in wire.go names", c))
		}
	}
	flat := map[string]string{"action": "string"}
	for _, a := range actions {
		payload, ok := cases[witName(a)]
		if !ok {
			problems = append(problems, fmt.Sprintf("wire.go action %q has no case %q in variant route-action", a, witName(a)))
		}
		maps.Copy(flat, f.records[payload])
	}
	json := jsonFields(reflect.TypeFor[RouteResponse]())
	return append(problems, compareFields("route-action (flattened)", "RouteResponse", flat, json)...)
}

// compareFields reports the fields one side has and the other lacks.
func compareFields(record, goType string, wit map[string]string, json map[string]bool) []string {
	var problems []string
	for _, field := range slices.Sorted(maps.Keys(wit)) {
		if _, ok := json[abiName(field)]; !ok {
			problems = append(problems, fmt.Sprintf("WIT %s has field %s, but JSON field %q is missing from wire.go %s", record, field, abiName(field), goType))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(json)) {
		if _, ok := wit[witName(name)]; !ok {
			problems = append(problems, fmt.Sprintf("wire.go %s has JSON field %q, but field %s is missing from WIT %s", goType, name, witName(name), record))
		}
	}
	return problems
}

// jsonFields maps a struct's JSON field names to whether they are omitempty.
func jsonFields(typ reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = slices.Contains(strings.Split(opts, ","), "omitempty")
	}
	return fields
}

// parseWIT reads the worlds, interfaces, records and variants of a WIT
// file. It understands enough of WIT for a contract file: packages,
// interfaces with functions and type definitions, and worlds with imports
// (skipped), uses, includes and exports of functions, inline interfaces or
// interfaces defined in the same file.
func parseWIT(src string) (*witFile, error) {
	p := &witParser{toks: witTokens(src), f: &witFile{
		worlds:     map[string][]string{},
		interfaces: map[string][]string{},
		records:    map[string]map[string]string{},
		variants:   map[string]map[string]string{},
	}}
	exported := map[string][]string{} // world → interfaces it exports by name
	for p.peek(0) != "" {
		var err error
		switch t := p.next(); t {
		case "package", "use":
			err = p.skipItem()
		case "interface":
			name := p.name()
			if err = p.expect("{"); err == nil {
				p.f.interfaces[name], err = p.interfaceBody()
			}
		case "world":
			name := p.name()
			if err = p.expect("{"); err == nil {
				p.f.worlds[name], exported[name], err = p.worldBody()
			}
		default:
			err = fmt.Errorf("unexpected %q at top level", t)
		}
		if err != nil {
			return nil, err
		}
	}
	for world, ifaces := range exported {
		for _, iface := range ifaces {
			fns, ok := p.f.interfaces[iface]
			if !ok {
				return nil, fmt.Errorf("world %s exports interface %s, which this file does not define", world, iface)
			}
			p.f.worlds[world] = append(p.f.worlds[world], fns...)
		}
	}
	return p.f, nil
}

type witParser struct {
	toks []string
	i    int
	f    *witFile
}

// witTokens splits WIT source into identifiers, "->" and single-character
// punctuation, dropping comments.
func witTokens(src string) []string {
	src = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(src, " ")
	var toks []string
	for line := range strings.Lines(src) {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		for i := 0; i < len(line); {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "->"):
				toks, i = append(toks, "->"), i+2
			case isWITIdent(c):
				j := i
				for j < len(line) && isWITIdent(line[j]) && !strings.HasPrefix(line[j:], "->") {
					j++
				}
				toks, i = append(toks, line[i:j]), j
			case c == ' ' || c == '\t' || c == '\r' || c == '\n':
				i++
			default:
				toks, i = append(toks, string(c)), i+1
			}
		}
	}
	return toks
}

func isWITIdent(c byte) bool {
	return c == '-' || c == '%' || c == '_' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func (p *witParser) peek(ahead int) string {
	if p.i+ahead >= len(p.toks) {
		return ""
	}
	return p.toks[p.i+ahead]
}

func (p *witParser) next() string {
	t := p.peek(0)
	if t != "" {
		p.i++
	}
	return t
}

// name reads an identifier and drops its '%' escape.
func (p *witParser) name() string { return strings.TrimPrefix(p.next(), "%") }

func (p *witParser) expect(want string) error {
	if got := p.next(); got != want {
		return fmt.Errorf("expected %q, found %q (token %d)", want, got, p.i)
	}
	return nil
}

// until collects the tokens up to (not including) the first of stops at
// nesting depth 0, joined without spaces.
func (p *witParser) until(stops ...string) (string, error) {
	var b strings.Builder
	depth := 0
	for {
		t := p.peek(0)
		switch {
		case t == "":
			return "", fmt.Errorf("unexpected end of file, expected one of %q", stops)
		case depth == 0 && slices.Contains(stops, t):
			return b.String(), nil
		case t == "(" || t == "<" || t == "{":
			depth++
		case t == ")" || t == ">" || t == "}":
			depth--
		}
		b.WriteString(p.next())
	}
}

// skipItem skips one item: up to and including its ';', or its closing
// '}' when it is a block (a resource, an inline interface) and the ';'
// after the block when there is one (use a.{b};).
func (p *witParser) skipItem() error {
	if _, err := p.until(";", "{"); err != nil {
		return err
	}
	if p.next() == "{" {
		if _, err := p.until("}"); err != nil {
			return err
		}
		p.next()
		if p.peek(0) == ";" {
			p.next()
		}
	}
	return nil
}

// interfaceBody reads an interface after its '{', through its '}', and
// returns its functions.
func (p *witParser) interfaceBody() ([]string, error) {
	var fns []string
	for {
		var err error
		switch t := p.next(); t {
		case "":
			return nil, fmt.Errorf("unexpected end of file in an interface")
		case "}":
			return fns, nil
		case "record", "variant", "enum", "flags":
			err = p.typeDef(t)
		case "use", "type", "resource":
			err = p.skipItem()
		default:
			if err = p.expect(":"); err == nil {
				fns = append(fns, strings.TrimPrefix(t, "%"))
				err = p.skipItem()
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

// worldBody reads a world after its '{', through its '}': the functions it
// exports directly or in inline interfaces, and the interfaces it exports
// by name.
func (p *witParser) worldBody() (fns, ifaces []string, err error) {
	for {
		switch t := p.next(); t {
		case "":
			return nil, nil, fmt.Errorf("unexpected end of file in a world")
		case "}":
			return fns, ifaces, nil
		case "export":
			fns, ifaces, err = p.export(fns, ifaces)
		case "import", "use", "include", "type", "resource":
			err = p.skipItem()
		case "record", "variant", "enum", "flags":
			err = p.typeDef(t)
		default:
			err = fmt.Errorf("unexpected %q in a world", t)
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// export reads one export item of a world, after the keyword.
func (p *witParser) export(fns, ifaces []string) ([]string, []string, error) {
	if p.peek(1) != ":" || !slices.Contains([]string{"func", "async", "interface"}, p.peek(2)) { // export path;
		path, err := p.until(";")
		if err != nil {
			return nil, nil, err
		}
		p.next()
		return fns, append(ifaces, strings.TrimPrefix(path, "%")), nil
	}
	name := p.name()
	p.next() // ':'
	if p.peek(0) == "interface" {
		p.next()
		if err := p.expect("{"); err != nil {
			return nil, nil, err
		}
		inner, err := p.interfaceBody()
		return append(fns, inner...), ifaces, err
	}
	return append(fns, name), ifaces, p.skipItem()
}

// typeDef reads a record, variant, enum or flags definition after its
// keyword.
func (p *witParser) typeDef(kind string) error {
	name := p.name()
	if err := p.expect("{"); err != nil {
		return err
	}
	items := map[string]string{}
	if kind == "record" {
		p.f.records[name] = items
	} else {
		p.f.variants[name] = items
	}
	for {
		item := p.name()
		switch {
		case item == "":
			return fmt.Errorf("unexpected end of file in %s %s", kind, name)
		case item == "}":
			return nil
		case kind == "record":
			if err := p.expect(":"); err != nil {
				return err
			}
			typ, err := p.until(",", "}")
			if err != nil {
				return err
			}
			items[item] = typ
		case p.peek(0) == "(":
			p.next()
			typ, err := p.until(")")
			if err != nil {
				return err
			}
			p.next()
			items[item] = typ
		default:
			items[item] = ""
		}
		if p.peek(0) == "," {
			p.next()
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParseWIT(t *testing.T, src string) *witFile {
	t.Helper()
	f, err := parseWIT(src)
	if err != nil {
		t.Fatalf("parse WIT: %v", err)
	}
	return f
}

// dropLine removes the one line containing s, failing when there is none,
// so that a mutation cannot silently stop mutating.
func dropLine(t *testing.T, src, s string) string {
	t.Helper()
	lines := strings.Split(src, "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, s) })
	if i < 0 {
		t.Fatalf("no line contains %q", s)
	}
	return strings.Join(slices.Delete(lines, i, i+1), "\n")
}

func replaceOnce(t *testing.T, src, old, repl string) string {
	t.Helper()
	if !strings.Contains(src, old) {
		t.Fatalf("%q not found", old)
	}
	return strings.Replace(src, old, repl, 1)
}

// withOptional returns a copy of kinds in which kind k has one more
// optional export.
func withOptional(kinds []KindSpec, k Kind, export string) []KindSpec {
	out := slices.Clone(kinds)
	for i := range out {
		if out[i].Kind == k {
			out[i].Optional = append(slices.Clone(out[i].Optional), export)
		}
	}
	return out
}

func containsAll(subs []string) func(string) bool {
	return func(s string) bool {
		return !slices.ContainsFunc(subs, func(sub string) bool { return !strings.Contains(s, sub) })
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
