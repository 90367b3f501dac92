package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
)

// TestJSONLogsParseLineByLine starts a node with --log-format json and
// --log-level debug, stops it, and checks that every line of its standard
// error is a JSON object with time, level and msg, that the embedded NATS
// server's lines are among them with component=nats, and that none of
// them is a trace (one per protocol line).
func TestJSONLogsParseLineByLine(t *testing.T) {
	p, log := startNodeWith(t, []string{"MESH_LOG_LEVEL=debug"}, "--home", t.TempDir(), "--listen", "127.0.0.1:0", "--log-format", "json")
	_ = p.cmd.Process.Signal(os.Interrupt)
	<-p.done
	p.done <- nil
	levels := map[string]int{}
	lines := log.all()
	for i, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("stderr line %d is not JSON: %v: %q", i+1, err, l)
		}
		if rec["time"] == nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("line %d lacks time, level or msg: %q", i+1, l)
		}
		if rec["component"] == "nats" {
			levels[rec["level"].(string)]++
			if msg := rec["msg"].(string); strings.Contains(msg, "<<- [") || strings.Contains(msg, "->> [") {
				t.Errorf("a NATS protocol trace was logged: %q", l)
			}
		}
	}
	if levels["INFO"] == 0 || levels["DEBUG"] == 0 {
		t.Errorf("NATS lines by level %v, want info and debug ones (of %d lines)", levels, len(lines))
	}
}

// TestBadLogSettingsRefused: an unknown format or level stops the node
// with the allowed values named.
func TestBadLogSettingsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-format", "xml"}, `log format "xml": want text or json`},
		{[]string{"--log-level", "verbose"}, `log level "verbose": want debug, info, warn or error`},
	} {
		_, stderr, status := run(t, clearEnv(), append([]string{"start", "--home", t.TempDir()}, c.args...)...)
		if status == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("mesh start %v: exit %d, %q; want %q", c.args, status, stderr, c.want)
		}
	}
}

// TestAuditThroughTheCLI: a node started with audit_log in its --config
// file records `mesh node refresh` and a refused `mesh net weave` in the
// file, with the CLI's loopback address as the caller, and logs each as an
// "audit" line.
func TestAuditThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.jsonl")
	cfgFile := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(cfgFile, []byte("audit_log: "+auditFile+"\nlog_format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, log := startNodeWith(t, nil, "--home", t.TempDir(), "--listen", "127.0.0.1:0", "--config", cfgFile)
	addr := addrOf(p)
	if out, err := cli(t, addr, "", "node", "refresh", "--node-id", "cli-node", "--inst-id", "cli-inst"); err != nil {
		t.Fatalf("mesh node refresh: %v %s", err, out)
	}
	if _, err := cli(t, addr, "", "net", "weave", "nobody"); err == nil {
		t.Fatal("mesh net weave of an unknown partner succeeded")
	}
	b, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []struct{ op, target, code string }{{"node refresh", "cli-node", "E0000000000"}, {"net weave", "nobody", "E0000000404"}}
	if len(lines) != len(want) {
		t.Fatalf("audit file: %d lines, want %d:\n%s", len(lines), len(want), b)
	}
	for i, w := range want {
		var rec struct {
			Operation, Caller, Code string
			Target                  map[string]string
		}
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Operation != w.op || rec.Target["node_id"] != w.target || rec.Code != w.code || !strings.HasPrefix(rec.Caller, "loopback 127.0.0.1:") {
			t.Errorf("record %d: %+v, want %s of %s with %s by loopback", i, rec, w.op, w.target, w.code)
		}
	}
	meshtest.WaitFor(t, 10*time.Second, "two audit lines in the log", func() bool {
		n := 0
		for _, l := range log.all() {
			if strings.Contains(l, `"msg":"audit","audit":true`) {
				n++
			}
		}
		return n == 2
	})
}
