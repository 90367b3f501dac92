package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// cli runs the mesh binary against the node at addr (through MESH_ADDRESS)
// and returns its standard output; on failure the error carries its
// standard error.
func cli(t *testing.T, addr, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, meshBin, args...)
	cmd.Env = append(os.Environ(), "MESH_ADDRESS="+addr)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("mesh %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// cliJSON runs a command with -o json and decodes its output into v.
func cliJSON(t *testing.T, addr string, v any, args ...string) {
	t.Helper()
	out, err := cli(t, addr, "", append(args, "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("mesh %v -o json: %v in %q", args, err, out)
	}
}

func addrOf(p *proc) string { return strings.TrimPrefix(p.url, "http://") }

// routeTo is addr's route to node id as `mesh net list` shows it.
func routeTo(t *testing.T, addr, id string) network.Route {
	t.Helper()
	var rs []network.Route
	cliJSON(t, addr, &rs, "net", "list")
	for _, r := range rs {
		if r.NodeID == id {
			return r
		}
	}
	return network.Route{}
}

// TestWeaveThroughCLI weaves two node processes with the CLI alone, as two
// operators would, then carries a message from one to the other.
func TestWeaveThroughCLI(t *testing.T) {
	a, b := addrOf(startProc(t, t.TempDir())), addrOf(startProc(t, t.TempDir()))
	for _, n := range []struct{ addr, id, inst string }{{a, "node-a", "inst-a"}, {b, "node-b", "inst-b"}} {
		if _, err := cli(t, n.addr, "", "node", "refresh", "--node-id", n.id, "--inst-id", n.inst, "--inst-name", "Institution "+n.inst); err != nil {
			t.Fatal(err)
		}
		var pub identity.Public
		cliJSON(t, n.addr, &pub, "node", "show")
		out, _ := cli(t, n.addr, "", "node", "show")
		if pub.NodeID != n.id || pub.InstID != n.inst || !strings.Contains(out, "sha256:") || !strings.Contains(out, n.addr) ||
			strings.Contains(out+pub.RootCrt+pub.Crt, "PRIVATE KEY") {
			t.Fatalf("node show: %+v\n%s", pub, out)
		}
	}

	if _, err := cli(t, a, "", "net", "add", "node-b", "--inst", "inst-b", "--address", b); err != nil {
		t.Fatal(err)
	}
	var woven network.Route
	cliJSON(t, a, &woven, "net", "weave", "node-b")
	if woven.State != network.StatePending || woven.Awaiting != network.AwaitingBoth || woven.Code == "" {
		t.Fatalf("weave: %+v", woven)
	}
	var atB network.Route
	meshtest.WaitFor(t, 30*time.Second, "B to show A pending", func() bool {
		atB = routeTo(t, b, "node-a")
		return atB.State == network.StatePending
	})
	if atB.Awaiting != network.AwaitingBoth || atB.Code != woven.Code || atB.InstID != "inst-a" {
		t.Fatalf("B sees %+v; A was shown code %s", atB, woven.Code)
	}
	if out, _ := cli(t, b, "", "net", "list"); !strings.Contains(out, "pending (both to ack)") || !strings.Contains(out, woven.Code) {
		t.Fatalf("net list table on B:\n%s", out)
	}

	wrong := "WRON-GCOD-EWRO-NGCO"
	if _, err := cli(t, b, "", "net", "ack", "node-a", "--code", wrong); err == nil || !strings.Contains(err.Error(), string(ptp.CertificateError)) {
		t.Fatalf("ack with a wrong code: %v", err)
	}
	if _, err := cli(t, b, "", "net", "ack", "node-a"); err == nil || !strings.Contains(err.Error(), "code") {
		t.Fatalf("ack without --code: %v", err)
	}
	// Each operator acks with the code the other read out.
	if _, err := cli(t, b, "", "net", "ack", "node-a", "--inst", "inst-a", "--code", woven.Code); err != nil {
		t.Fatal(err)
	}
	if out, _ := cli(t, a, "", "net", "list"); !strings.Contains(out, "pending (ack here)") {
		t.Fatalf("net list table on A after B's ack:\n%s", out)
	}
	if _, err := cli(t, a, "", "net", "ack", "node-b", "--code", atB.Code); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, 30*time.Second, "both sides woven", func() bool {
		return routeTo(t, a, "node-b").State == network.StateWoven && routeTo(t, b, "node-a").State == network.StateWoven
	})

	out, err := cli(t, a, "", "chan", "push", "--session", "job", "--target", "node-b", "t", "across")
	if err != nil || out != "delivered to node-b\n" {
		t.Fatalf("push to B: %q %v", out, err)
	}
	if out, err := cli(t, b, "", "chan", "pop", "--session", "job", "t"); err != nil || out != "across" {
		t.Fatalf("pop at B: %q %v", out, err)
	}
	var load loadResult
	for _, tr := range []string{"grpc", "http"} {
		cliJSON(t, a, &load, "load", "--target", "node-b", "--to", b, "--transport", tr, "--count", "200", "--concurrency", "2")
		if load.Sent != 200 || load.Received != 200 || load.Errors != 0 || load.OutOfOrder != 0 {
			t.Fatalf("cross-node load over %s: %+v", tr, load)
		}
	}
	testSwitchAndRemove(t, a)
}

// testSwitchAndRemove disables, enables and removes a's woven route to node-b.
func testSwitchAndRemove(t *testing.T, a string) {
	push := func() error {
		_, err := cli(t, a, "", "chan", "push", "--session", "job", "--target", "node-b", "t", "x")
		return err
	}
	steps := []struct {
		args  []string
		state network.State // of the route afterwards; "" when gone
		push  ptp.Code      // failure code of a push afterwards; "" when it succeeds
	}{
		{[]string{"net", "disable", "node-b"}, network.StateDisabled, ptp.PeerDisabled},
		{[]string{"net", "enable", "node-b"}, network.StateWoven, ""},
		{[]string{"net", "rm", "node-b"}, "", ptp.NotWoven},
	}
	for _, s := range steps {
		if _, err := cli(t, a, "", s.args...); err != nil {
			t.Fatal(err)
		}
		if got := routeTo(t, a, "node-b").State; got != s.state {
			t.Fatalf("after %v: state %q, want %q", s.args, got, s.state)
		}
		if err := push(); (err == nil) != (s.push == "") || err != nil && !strings.Contains(err.Error(), string(s.push)) {
			t.Fatalf("push after %v: %v, want %q", s.args, err, s.push)
		}
	}
	if _, err := cli(t, a, "", "net", "show", "node-b"); err == nil || !strings.Contains(err.Error(), string(ptp.NotFound)) {
		t.Fatalf("show after rm: %v", err)
	}
}

// TestNetListEscapesWhatPartnersSent: a route's fields, whatever they hold,
// print as one line of visible text: no escape sequence reaches the
// operator's terminal and no newline forges a table row.
func TestNetListEscapesWhatPartnersSent(t *testing.T) {
	r := network.Route{NodeID: "node-x", InstID: "inst\x1b[2J", InstName: "\x1b[31mBank\u202e\x07", Address: "127.0.0.1:1\nnode-y\tinst-y",
		State: network.StatePending, Awaiting: network.AwaitingUs, Code: "ABCD-EFGH-IJKL-MNOP"}
	var list, show strings.Builder
	routesTable([]network.Route{r})(&list)
	routeTable(r)(&show)
	for name, out := range map[string]string{"list": list.String(), "show": show.String()} {
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("%s printed a control character: %q", name, out)
		}
		if !strings.Contains(out, `\x1b`) {
			t.Errorf("%s does not show the escape as text: %q", name, out)
		}
	}
	if lines := strings.Count(list.String(), "\n"); lines != 2 {
		t.Errorf("list printed %d lines for one route: %q", lines, list.String())
	}
	if got := printable("a\\b\x00é"); got != `a\\b\x00é` {
		t.Errorf("printable: %q", got)
	}
}

// TestNetDialectThroughCLI: a legacy partner is added with --dialect,
// cannot be woven (the CLI says how to confirm it instead) and is
// confirmed with mesh net ack --trust plaintext.
func TestNetDialectThroughCLI(t *testing.T) {
	a := addrOf(startProc(t, t.TempDir()))
	if _, err := cli(t, a, "", "node", "refresh", "--node-id", "node-a", "--inst-id", "inst-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, a, "", "net", "add", "old-b", "--address", "grpc://127.0.0.1:1", "--allow-plaintext", "--dialect", "fate"); err == nil ||
		!strings.Contains(err.Error(), string(ptp.BadRequest)) {
		t.Fatalf("--dialect fate: %v", err)
	}
	if _, err := cli(t, a, "", "net", "add", "old-b", "--address", "grpc://127.0.0.1:1", "--allow-plaintext", "--dialect", "legacy"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, a, "", "net", "weave", "old-b"); err == nil || !strings.Contains(err.Error(), string(ptp.Incompatible)) ||
		!strings.Contains(err.Error(), "trust") {
		t.Fatalf("weave toward a legacy partner: %v", err)
	}
	if _, err := cli(t, a, "", "net", "ack", "old-b"); err == nil || !strings.Contains(err.Error(), "--trust plaintext") {
		t.Fatalf("ack without a confirmation: %v", err)
	}
	if _, err := cli(t, a, "", "net", "ack", "old-b", "--trust", "plaintext"); err != nil {
		t.Fatal(err)
	}
	r := routeTo(t, a, "old-b")
	out, _ := cli(t, a, "", "net", "list")
	if r.State != network.StateWoven || r.Dialect != ptp.DialectLegacy || r.Trust != network.TrustPlaintext ||
		!strings.Contains(out, "dialect=legacy,trust=plaintext") {
		t.Fatalf("after the trust: %+v\n%s", r, out)
	}
}
