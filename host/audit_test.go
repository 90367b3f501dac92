package host_test

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/audit"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// auditRecords reads the audit file at path.
func auditRecords(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// wantRecord is what one audit record must say.
type wantRecord struct {
	op     string
	target map[string]string
	code   ptp.Code
}

// TestAuditRecordsEveryControlChange drives every control change through
// the HTTP API of a node with --audit-log and checks each record
// (operation, target, caller, code), a refused change included, and that
// identical registry renewals are not recorded while a changed one is.
func TestAuditRecordsEveryControlChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var log meshtest.Log
	a := meshtest.Start(t, host.Config{AuditLog: path, Logger: log.Logger()})
	b := meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	want := []wantRecord{
		{"node refresh", map[string]string{"node_id": "node-a"}, ptp.OK},
		{"net refresh", map[string]string{"node_id": "node-b", "address": b.Addr}, ptp.OK},
		{"net weave", map[string]string{"node_id": "node-b"}, ptp.OK},
		{"net ack", map[string]string{"node_id": "node-b"}, ptp.OK},
	}
	for _, op := range []string{"disable", "enable", "remove"} {
		a.Control(t, "/v1/interconn/net/"+op, map[string]string{"node_id": "node-b"}, ptp.OK)
		want = append(want, wantRecord{"net " + op, map[string]string{"node_id": "node-b"}, ptp.OK})
	}
	a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "nobody"}, ptp.NotFound) // refused
	want = append(want, wantRecord{"net weave", map[string]string{"node_id": "nobody"}, ptp.NotFound})

	gz := readFile(t, plugintest.Build(t, "plugins/gzip"))
	r := a.Control(t, "/v1/interconn/plugin/install", plugin.InstallRequest{Name: "gz", Wasm: gz}, ptp.OK)
	var rec plugin.Record
	r.Decode(t, &rec)
	want = append(want, wantRecord{"plugin install", map[string]string{"name": "gz", "sha256": rec.SHA256, "kind": string(rec.Kind)}, ptp.OK})
	for _, op := range []string{"disable", "enable", "remove"} {
		a.Control(t, "/v1/interconn/plugin/"+op, map[string]string{"name": "gz"}, ptp.OK)
		w := wantRecord{"plugin " + op, map[string]string{"name": "gz", "sha256": rec.SHA256, "kind": string(rec.Kind)}, ptp.OK}
		if op == "remove" {
			w.target = map[string]string{"name": "gz"} // nothing left to name it by
		}
		want = append(want, w)
	}

	reg := regGuide(t)
	svc := map[string]string{"name": "tensorserving", "instance_id": "127.0.0.1:8500", "kind": "complex", "address": "127.0.0.1:8500"}
	for _, ts := range []string{"300000", "290000", "280000"} { // a registration, then two renewals (another timestamp): one record
		a.Control(t, "/v1/interconn/registry/register", strings.Replace(reg, `"timestamp":300000`, `"timestamp":`+ts, 1), ptp.OK)
	}
	want = append(want, wantRecord{"registry register", svc, ptp.OK})
	moved := strings.Replace(reg, `"address":"127.0.0.1:8501"`, `"address":"127.0.0.1:8601"`, 1) // a change: recorded
	a.Control(t, "/v1/interconn/registry/register", moved, ptp.OK)
	want = append(want, wantRecord{"registry register", svc, ptp.OK})
	a.Control(t, "/v1/interconn/registry/unregister", map[string]string{"name": "tensorserving", "instance_id": "127.0.0.1:8500"}, ptp.OK)
	want = append(want, wantRecord{"registry unregister", map[string]string{"name": "tensorserving", "instance_id": "127.0.0.1:8500"}, ptp.OK})
	meshtest.Get(t, a.URL+"/v1/interconn/net") // a read: not recorded

	got := auditRecords(t, path)
	if len(got) != len(want) {
		t.Fatalf("%d audit records, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Operation != w.op || g.Code != w.code || !strings.HasPrefix(g.Caller, "loopback 127.0.0.1:") || g.Time.IsZero() {
			t.Errorf("record %d: %+v, want %s by loopback with %s", i, g, w.op, w.code)
		}
		for k, v := range w.target {
			if g.Target[k] != v {
				t.Errorf("record %d (%s): target %v, want %s=%s", i, w.op, g.Target, k, v)
			}
		}
	}
	if n := log.Count(`msg=audit audit=true`); n != len(want) {
		t.Errorf("%d audit lines in the node's log, want %d", n, len(want))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode: %v %v, want 0600", fi.Mode(), err)
	}
}

// TestAuditNamesRemoteCallers: from another address of this machine (not
// loopback), a change without the admin token is refused and recorded as
// such, one with a wrong token too, and one with the token is recorded as
// the token's.
func TestAuditNamesRemoteCallers(t *testing.T) {
	ip := meshtest.NonLoopbackIP(t).String()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	n := meshtest.Start(t, host.Config{Listen: net.JoinHostPort(ip, "0"), AdminToken: "s3cret-admin", AuditLog: path})
	body := map[string]string{"node_id": "node-x", "inst_id": "inst-x"}
	for _, c := range []struct {
		token  string
		code   ptp.Code
		caller string
	}{{"", ptp.Unauthorized, "no credential from " + ip + ":"}, {"wrong", ptp.Unauthorized, "wrong admin-token from " + ip + ":"},
		{"s3cret-admin", ptp.OK, "admin-token from " + ip + ":"}} {
		hdr := map[string]string{}
		if c.token != "" {
			hdr["Authorization"] = "Bearer " + c.token
		}
		if r := meshtest.Post(t, n.URL, "/v1/interconn/node/refresh", hdr, body); r.Code != c.code {
			t.Fatalf("token %q: %s", c.token, r.Body)
		}
		recs := auditRecords(t, path)
		last := recs[len(recs)-1]
		if last.Operation != "node refresh" || last.Code != c.code || !strings.HasPrefix(last.Caller, c.caller) {
			t.Errorf("token %q: record %+v, want caller %q…, code %s", c.token, last, c.caller, c.code)
		}
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "s3cret") {
		t.Errorf("the audit file holds the token:\n%s", b)
	}
}

// TestAuditFileUnwritableStopsStart: a node whose audit file cannot be
// opened does not start.
func TestAuditFileUnwritableStopsStart(t *testing.T) {
	cfg := host.Config{Home: t.TempDir(), Listen: "127.0.0.1:0", AuditLog: filepath.Join(t.TempDir(), "missing", "audit.jsonl")}
	if h, err := host.New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "audit log") {
		if h != nil {
			h.Close()
		}
		t.Fatalf("start with an unwritable audit file: %v", err)
	}
}

// TestAuditBoundsRefusals: 1,000 refused changes from a caller without the
// token write at most a burst of records (plus what the bucket refilled
// meanwhile) and records counting the others; a change with the token
// after them is recorded. Nothing sent to the data port of a node with an
// admin port is recorded: control is not served there.
func TestAuditBoundsRefusals(t *testing.T) {
	ip := meshtest.NonLoopbackIP(t).String()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	n := meshtest.Start(t, host.Config{Listen: net.JoinHostPort(ip, "0"), AdminToken: "s3cret-admin", AuditLog: path})
	body := map[string]string{"node_id": "node-x", "inst_id": "inst-x"}
	start := time.Now()
	const calls = 1000
	for range calls {
		if r := meshtest.Post(t, n.URL, "/v1/interconn/node/refresh", nil, body); r.Code != ptp.Unauthorized {
			t.Fatalf("without the token: %s", r.Body)
		}
	}
	refill := int(time.Since(start).Seconds()) + 1 // what the bucket may have refilled meanwhile
	if r := meshtest.Post(t, n.URL, "/v1/interconn/node/refresh", map[string]string{"Authorization": "Bearer s3cret-admin"}, body); r.Code != ptp.OK {
		t.Fatalf("with the token: %s", r.Body)
	}
	recs := auditRecords(t, path)
	var refused, suppressed int64
	for _, r := range recs[:len(recs)-1] {
		switch {
		case r.Operation == audit.SuppressedOp:
			suppressed += r.Suppressed
		case r.Operation == "node refresh" && r.Code == ptp.Unauthorized:
			refused++
		default:
			t.Errorf("unexpected record %+v", r)
		}
	}
	if refused > int64(audit.RefusedBurst+refill*audit.RefusedPerSecond) || refused+suppressed != calls || suppressed == 0 {
		t.Errorf("%d refusals recorded and %d counted as not recorded, want at most %d and %d in all", refused, suppressed, audit.RefusedBurst+refill, calls)
	}
	if last := recs[len(recs)-1]; last.Operation != "node refresh" || last.Code != ptp.OK || !strings.HasPrefix(last.Caller, "admin-token from ") {
		t.Errorf("the accepted change after the refusals: %+v", last)
	}

	path = filepath.Join(t.TempDir(), "audit.jsonl")
	a := meshtest.Start(t, host.Config{AdminListen: "127.0.0.1:0", AuditLog: path})
	for range 10 {
		if r := meshtest.Post(t, a.URL, "/v1/interconn/node/refresh", nil, body); r.Code != ptp.NotFound {
			t.Fatalf("data port of a node with an admin port: %s", r.Body)
		}
	}
	a.Control(t, "/v1/interconn/node/refresh", body, ptp.OK) // on the admin port
	if recs := auditRecords(t, path); len(recs) != 1 || !strings.HasPrefix(recs[0].Caller, "admin port: loopback ") || recs[0].Code != ptp.OK {
		t.Errorf("records %+v, want only the admin port's change", recs)
	}
}
