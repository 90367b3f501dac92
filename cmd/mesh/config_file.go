package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// fileEntry is one key of the --config file: its value and where it is.
type fileEntry struct {
	node ast.Node
	line int
}

// configFile is a parsed --config file: its path, for errors, and its
// entries by option name.
type configFile struct {
	path    string
	entries map[string]fileEntry
}

// readConfigFile reads the YAML file at path: one mapping whose keys are
// options' keys (optionKeys). An unknown key is an error naming it and its
// line, with a hint when it is a flag's spelling or a secret's value.
func readConfigFile(path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cf := &configFile{path: path, entries: map[string]fileEntry{}}
	for _, doc := range f.Docs {
		if err := cf.addDoc(doc.Body); err != nil {
			return nil, err
		}
	}
	return cf, nil
}

// addDoc adds the keys of one YAML document, a mapping (or nothing).
func (cf *configFile) addDoc(body ast.Node) error {
	var pairs []*ast.MappingValueNode
	switch b := body.(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		pairs = b.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{b}
	default:
		return fmt.Errorf("config %s:%d: want a mapping of option: value, got %s", cf.path, line(body), body.Type())
	}
	byKey := optionKeys()
	for _, p := range pairs {
		k, ok := p.Key.(*ast.StringNode)
		if !ok {
			return fmt.Errorf("config %s:%d: key %s is not an option name", cf.path, line(p), p.Key)
		}
		o, ok := byKey[k.Value]
		if !ok {
			return fmt.Errorf("config %s:%d: unknown key %q%s", cf.path, line(p), k.Value, keyHint(k.Value, byKey))
		}
		if prev, dup := cf.entries[o.name]; dup {
			return fmt.Errorf("config %s:%d: key %q given again (first on line %d)", cf.path, line(p), k.Value, prev.line)
		}
		cf.entries[o.name] = fileEntry{node: p.Value, line: line(p)}
	}
	return nil
}

// optionKeys are the options of `mesh start` by their file key.
func optionKeys() map[string]option {
	m := make(map[string]option, len(startOptions))
	for _, o := range startOptions {
		m[o.key()] = o
	}
	return m
}

// keyHint helps with an unknown key: the snake_case spelling of a flag's
// name, or a secret's file key for the secret itself.
func keyHint(k string, byKey map[string]option) string {
	snake := strings.ReplaceAll(k, "-", "_")
	if o, ok := byKey[snake]; ok && snake != k {
		return fmt.Sprintf(" (keys are snake_case: write %s)", o.key())
	}
	if o, ok := byKey[snake+"_file"]; ok && o.secret {
		return fmt.Sprintf(" (a token is never written in the file: put it in a file of its own and name it with %s, or use env %s)", o.key(), o.env())
	}
	return " (see mesh config print for every key)"
}

// set parses the file's value of o into fv.
func (cf *configFile) set(o option, fv *fieldValue) error {
	e := cf.entries[o.name]
	if err := setNode(fv, e.node); err != nil {
		return fmt.Errorf("config %s:%d: %s: %w", cf.path, e.line, o.key(), err)
	}
	return nil
}

// setNode sets fv from a YAML value of the kind it wants: a list from a
// sequence of scalars, a bool from a bool, an integer from an integer,
// strings and durations from strings.
func setNode(fv *fieldValue, n ast.Node) error {
	wrong := func() error {
		return fmt.Errorf("want %s, got %s %s", fv.want(), n.Type(), strings.TrimSpace(n.String()))
	}
	switch {
	case n == nil || n.Type() == ast.NullType:
		return fmt.Errorf("has no value: give %s or remove the key", fv.want())
	case fv.v.Kind() == reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			return wrong()
		}
		items := []string{}
		for _, it := range seq.Values {
			s, ok := scalar(it)
			if !ok {
				return fmt.Errorf("want a list of strings, got %s %s in it", it.Type(), it)
			}
			items = append(items, s)
		}
		fv.setList(items)
		return nil
	}
	want := ast.StringType
	switch {
	case fv.v.Kind() == reflect.Bool:
		want = ast.BoolType
	case fv.v.Type() != durationType && (fv.v.CanInt() || fv.v.CanUint()):
		want = ast.IntegerType
	}
	s, ok := scalar(n)
	if n.Type() != want || !ok {
		return wrong()
	}
	return fv.set(s)
}

// scalar is the text of a string, integer or bool node.
func scalar(n ast.Node) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.IntegerNode:
		return fmt.Sprint(x.Value), true
	case *ast.BoolNode:
		return fmt.Sprint(x.Value), true
	}
	return "", false
}

func line(n ast.Node) int {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line
	}
	return 0
}
