package plugin

import (
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/internal/reserved"
)

// TestKindMessagesFollowTheTable: the messages of KindOf and Spec name every
// kind of the table, a kind added to it included, so none is hard-coded.
func TestKindMessagesFollowTheTable(t *testing.T) {
	saved := Kinds
	t.Cleanup(func() { Kinds = saved })
	Kinds = append(Kinds[:len(Kinds):len(Kinds)], KindSpec{Kind: "probe", World: "probe-world", ABI: Extism, Exports: []string{"probe_a", "probe_b"}})
	_, err := KindOf(Module{Exports: []string{"unrelated"}}, "")
	if err == nil {
		t.Fatal("a module exporting nothing of use fits a kind")
	}
	for _, s := range Kinds {
		if want := s.World + " needs " + strings.Join(s.Exports, "+"); !strings.Contains(err.Error(), want) {
			t.Errorf("KindOf's message %q lacks %q", err, want)
		}
	}
	if _, err := Spec("nope"); err == nil || !strings.Contains(err.Error(), "codec, auth, route, probe") {
		t.Errorf("Spec(nope) = %v, want the known kinds listed from the table", err)
	}
	if k, err := KindOf(Module{Exports: []string{"probe_a", "probe_b"}}, ""); err != nil || k != "probe" {
		t.Errorf("a module with the probe kind's exports: %q, %v", k, err)
	}
}

// TestIsWasm: the magic and a version make a module; anything shorter or
// otherwise does not.
func TestIsWasm(t *testing.T) {
	for _, c := range []struct {
		b    string
		want bool
	}{
		{"\x00asm\x01\x00\x00\x00", true},
		{"\x00asm\x01\x00\x00\x00rest", true},
		{"\x00asm\x01\x00\x00", false},
		{"\x00asm", false},
		{"", false},
		{"\x7fELF\x02\x01\x01\x00", false},
		{"\x00ASM\x01\x00\x00\x00", false},
	} {
		if got := IsWasm([]byte(c.b)); got != c.want {
			t.Errorf("IsWasm(%q) = %v, want %v", c.b, got, c.want)
		}
	}
}

// TestReservedPaths: the node's own endpoints and every PTP URI are
// reserved; a route handler's own paths are not.
func TestReservedPaths(t *testing.T) {
	for _, c := range []struct {
		path string
		want bool
	}{
		{"/v1/interconn/chan/push", true},
		{"/healthz", true},
		{"/stats", true},
		{"/metrics", true},
		{"/metrics/x", true},
		{"/debug/pprof/heap", true},
		{"/panel/panel.js", true},
		{"/org.ppc.ptp.PrivateTransferTransport/push", true},
		{"grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", true},
		{"https://ptp.cn/v1/interconn/chan/push", true},
		{"/app/", false},
		{"/v1/other", false},
	} {
		if got := ReservedPaths(c.path); got != c.want {
			t.Errorf("ReservedPaths(%q) = %v, want %v", c.path, got, c.want)
		}
	}
}

// TestPrefixesAvoidTheNode: no route handler prefix may sit inside the
// node's own endpoints (the one list, host/internal/reserved), /metrics
// and the operator's paths included; "/" may, and Router then still leaves
// every node endpoint to the node.
func TestPrefixesAvoidTheNode(t *testing.T) {
	for _, p := range append(reserved.Roots(), "/metrics/", "/debug/pprof/", "/panel/", "/stats/x") {
		if err := checkPrefixes(Route, []string{p}); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if err := checkPrefixes(Route, []string{"/"}); err != nil {
		t.Fatalf("prefix /: %v", err)
	}
}
