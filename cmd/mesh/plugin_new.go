package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/plugin"
	kits "github.com/ppcmesh/mesh/sdk/plugin"
)

// pluginNewCmd is `mesh plugin new`: a plugin project from a kit's example.
func pluginNewCmd() *cobra.Command {
	var kind, lang, dir string
	cmd := &cobra.Command{
		Use:   "new NAME --kind codec|auth|route [--lang " + strings.Join(kits.Langs(), "|") + "] [--dir DIR]",
		Short: "Create a plugin project: the kit's example of a kind, its build and test scripts",
		Long: `new writes a plugin project into ./NAME (or --dir DIR, which must not exist or be
empty: nothing is overwritten). The project starts as the kit's example of the
kind, builds with its own ./build.sh and says in its README.md how to test and
install it:

  mesh plugin new hello --kind route
  cd hello && ./build.sh . hello.wasm
  mesh plugin test hello.wasm --kind route
  mesh plugin install hello.wasm --kind route --prefix /hello

Kinds:
` + kindsHelp() + `
Languages: ` + strings.Join(kits.Langs(), ", ") + ` (default go).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := newProject(args[0], kind, lang)
			if err != nil {
				return err
			}
			if dir == "" {
				dir = p.Name
			}
			written, err := kits.Write(dir, p)
			if err != nil {
				return err
			}
			printNew(cmd.OutOrStdout(), dir, p, written)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&kind, "kind", "", "the plugin's kind: "+kindList()+" (required)")
	f.StringVar(&lang, "lang", "go", "the kit's language: "+strings.Join(kits.Langs(), ", "))
	f.StringVar(&dir, "dir", "", "the project's folder (default ./NAME)")
	return cmd
}

// newProject checks the name, kind and language of a new project.
func newProject(name, kind, lang string) (kits.Project, error) {
	if err := kits.CheckName(name); err != nil {
		return kits.Project{}, fmt.Errorf("%w (it names the folder, the module and the .wasm)", err)
	}
	if kind == "" {
		return kits.Project{}, fmt.Errorf("--kind is required: %s", kindList())
	}
	if _, err := plugin.Spec(plugin.Kind(kind)); err != nil {
		return kits.Project{}, fmt.Errorf("--kind: %w", err)
	}
	if langs := kits.Langs(); !slices.Contains(langs, lang) {
		return kits.Project{}, fmt.Errorf("--lang: no kit for %q (known: %s)", lang, strings.Join(langs, ", "))
	}
	return kits.Project{Name: name, Kind: kind, Lang: lang}, nil
}

// kindList names the kinds of the table.
func kindList() string {
	var k []string
	for _, s := range plugin.Kinds {
		k = append(k, string(s.Kind))
	}
	return strings.Join(k, ", ")
}

// printNew says what new wrote and what to do next.
func printNew(w io.Writer, dir string, p kits.Project, written []string) {
	fmt.Fprintf(w, "created %s plugin %s (%s) in %s:\n", p.Kind, p.Name, p.Lang, dir)
	for _, line := range listing(written) {
		fmt.Fprintf(w, "  %s\n", filepath.Join(dir, filepath.FromSlash(line)))
	}
	wasm := p.Name + ".wasm"
	fmt.Fprintf(w, "next:\n  cd %s && ./build.sh . %s && %s && %s\n", shellQuote(dir), wasm, p.Test(), p.Install())
}

// listing lists the files at the top of the project one a line, and each
// folder as one line with its count of files.
func listing(written []string) []string {
	var lines []string
	in := map[string]int{}
	for _, f := range written {
		top, _, nested := strings.Cut(f, "/")
		if !nested {
			lines = append(lines, f)
			continue
		}
		if in[top] == 0 {
			lines = append(lines, top+"/")
		}
		in[top]++
	}
	for i, l := range lines {
		if n := in[strings.TrimSuffix(l, "/")]; strings.HasSuffix(l, "/") {
			lines[i] = fmt.Sprintf("%s (%d files)", l, n)
		}
	}
	return lines
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
