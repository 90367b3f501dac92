package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// completeWith runs the built binary's hidden `__complete` (what the shell
// scripts call) with args, and returns the values offered (descriptions
// cut) and the directive line.
func completeWith(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out, err := exec.Command(meshBin, append([]string{"__complete"}, args...)...).Output()
	if err != nil {
		t.Fatalf("mesh __complete %q: %v\n%s", args, err, out)
	}
	var values []string
	directive := ""
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		values = append(values, strings.SplitN(l, "\t", 2)[0])
	}
	return values, directive
}

// TestCompletionFromTheRunningNode: partner ids, plugin names and session
// ids complete from a running node at --addr; a node that is down yields
// no completion (and no file names), not an error.
func TestCompletionFromTheRunningNode(t *testing.T) {
	n := meshtest.Start(t, host.Config{ShutdownTimeout: 2 * time.Second})
	n.Identify(t, "node-a", "inst-a")
	for _, id := range []string{"node-b", "node-c"} {
		n.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": id, "inst_id": "inst-" + id, "address": "127.0.0.1:1"}, ptp.OK)
	}
	_, wasm := plugintest.BuildBytes(t, "plugins/gzip")
	file := filepath.Join(t.TempDir(), "gzip.wasm")
	if err := os.WriteFile(file, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(meshBin, "plugin", "install", file, "--addr", n.Addr).CombinedOutput(); err != nil {
		t.Fatalf("plugin install: %v\n%s", err, out)
	}
	for s, count := range map[string]int{"job-1": 2, "job-2": 1} {
		c := &meshtest.HTTPClient{URL: n.URL, Session: s}
		for i := range count {
			if code, err := c.Push(t.Context(), fmt.Sprint("t", i), []byte("x")); err != nil || code != ptp.OK {
				t.Fatalf("push: %s %v", code, err)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"net", "weave", "--addr", n.Addr, ""}, []string{"node-b", "node-c"}},
		{[]string{"net", "rm", "--addr", n.Addr, "node-c"}, []string{"node-c"}},
		{[]string{"net", "show", "--addr", n.Addr, "node-b", ""}, nil}, // one argument only
		{[]string{"plugin", "disable", "--addr", n.Addr, ""}, []string{"gzip"}},
		{[]string{"plugin", "inspect", "--addr", n.Addr, "g"}, []string{"gzip"}},
		{[]string{"chan", "pop", "--addr", n.Addr, "--session", ""}, []string{"job-1", "job-2"}},
		{[]string{"chan", "push", "--addr", n.Addr, "--session", "job-1", "--target", ""}, []string{"node-b", "node-c"}},
		{[]string{"net", "weave", "--addr", freeAddr(t), ""}, nil}, // the node is down
	} {
		got, directive := completeWith(t, tc.args...)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) || directive != ":4" { // 4: ShellCompDirectiveNoFileComp
			t.Errorf("complete %q: %q %s, want %q :4", tc.args, got, directive, tc.want)
		}
	}
}

// TestCompletionScripts: `mesh completion SHELL` prints a script for each
// shell cobra supports, past the root's refusal of unknown subcommands.
func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{"bash": "__start_mesh", "zsh": "#compdef mesh", "fish": "complete -c mesh",
		"powershell": "Register-ArgumentCompleter"} {
		out, err := exec.Command(meshBin, "completion", shell).Output()
		if err != nil || !strings.Contains(string(out), marker) {
			t.Errorf("mesh completion %s: %v, want %q in:\n%.300s", shell, err, marker, out)
		}
	}
}

// TestCandidatesRefuseUnsafeValues: a value a partner chose (its node id)
// holding a space, a tab, a newline or an escape is not offered to the
// shell, and a description cannot carry control characters either.
func TestCandidatesRefuseUnsafeValues(t *testing.T) {
	var got []string
	for _, v := range []string{"node-b", "a b", "a\tb", "a\nb", "a\x1b[2Jb", ""} {
		got = appendCandidate(got, v, "woven\x1b[31m\nx")
	}
	if want := []string{"node-b\twoven\\x1b[31m\\nx"}; !slices.Equal(got, want) {
		t.Fatalf("candidates %q, want %q", got, want)
	}
}
