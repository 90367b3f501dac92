package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host"
)

// The table of options in docs/configuration.md lies between these lines;
// TestConfigurationDocIsTheTable keeps it equal to startOptions
// (UPDATE_DOCS=1 rewrites it).
const (
	docPath       = "../../docs/configuration.md"
	docTableBegin = "<!-- options table: generated from cmd/mesh/config_options.go by TestConfigurationDocIsTheTable -->\n"
	docTableEnd   = "<!-- end of options table -->\n"
)

// optionsDoc is the Markdown table of every option: flag, env, YAML key,
// default and meaning.
func optionsDoc() string {
	var b strings.Builder
	b.WriteString("| flag | environment | YAML key | default | meaning |\n|---|---|---|---|---|\n")
	def := host.Defaults()
	dv := reflect.ValueOf(&def).Elem()
	for _, o := range startOptions {
		d := o.def
		if d == "" && !o.secret {
			d = (&fieldValue{v: dv.FieldByName(o.field)}).String()
		}
		d = map[bool]string{true: "`" + d + "`", false: "none"}[d != "" && d != "false"]
		flag := "`--" + o.flag() + "`"
		if o.secret {
			flag += " (a file; `--" + o.name + "` is refused)"
		}
		env := "`" + o.env() + "`"
		if o.secret {
			env += " (the token itself)"
		}
		if o.field == "Listen" {
			env += ", or `" + legacyPortEnv + "=PORT`"
		}
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s | %s |\n", flag, env, o.key(), d, strings.ReplaceAll(o.usage, "|", "\\|"))
	}
	return b.String()
}

// TestConfigurationDocIsTheTable: the options table of the configuration
// guide is the one startOptions makes, so the guide cannot go stale.
func TestConfigurationDocIsTheTable(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docTableBegin), strings.Index(doc, docTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the table's marker lines", docPath)
	}
	got, want := doc[i+len(docTableBegin):j], optionsDoc()
	if got == want {
		return
	}
	if os.Getenv("UPDATE_DOCS") == "1" {
		if err := os.WriteFile(docPath, []byte(doc[:i+len(docTableBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the options table of %s is stale: run UPDATE_DOCS=1 go test ./cmd/mesh -run TestConfigurationDocIsTheTable", docPath)
}
