package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// TestRegistryCommands registers with flags and with a file (and stdin),
// lists as a table and as JSON, and removes, against a node process.
func TestRegistryCommands(t *testing.T) {
	addr := addrOf(startProc(t, t.TempDir()))
	mesh := func(stdin string, args ...string) (string, error) {
		return cli(t, addr, stdin, append([]string{"registry"}, args...)...)
	}
	if out, err := mesh("", "list"); err != nil || !strings.Contains(out, "no registrations") {
		t.Fatalf("list before register: %q %v", out, err)
	}
	out, err := mesh("", "register", "--name", "model", "--urn", "/predict/*", "--address", "127.0.0.1:8080",
		"--ttl", "1m", "--exposed", "--partners", "node-b,node-c", "--attr", "balance=least_request")
	if err != nil || !strings.HasPrefix(out, "registered model (instance 127.0.0.1:8080, 1 services) until ") {
		t.Fatalf("register with flags: %q %v", out, err)
	}
	var st registry.Stored
	cliJSON(t, addr, &st, "registry", "register", "--name", "model", "--urn", "/pkg.Model/", "--proto", "grpc",
		"--address", "127.0.0.1:9090", "--instance-id", "g1", "--ttl", "2h")
	if left := time.Until(st.Expires); left < time.Hour || st.Content.Services[0].Kind != "grpc" {
		t.Fatalf("register --ttl 2h -o json: %+v (expires in %v)", st, left)
	}
	file := filepath.Join(t.TempDir(), "reg.json")
	reg := `{"name":"svc","kind":"complex","address":"127.0.0.1:7000","instance_id":"f1","timestamp":60000,"extra":1,
 "content":{"services":[{"urn":"/a/b/c","kind":"Restful","proto":"http"}]}}`
	if err := os.WriteFile(file, []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := mesh("", "register", "-f", file); err != nil {
		t.Fatal(err)
	}
	if _, err := mesh(strings.Replace(reg, `"f1"`, `"f2"`, 1), "register", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	var ls []registry.Listed
	cliJSON(t, addr, &ls, "registry", "list")
	if len(ls) != 4 {
		t.Fatalf("listed %d registrations, want 4: %+v", len(ls), ls)
	}
	table, err := mesh("", "list")
	if err != nil || !strings.Contains(table, "http /predict/*") || !strings.Contains(table, "grpc /pkg.Model/") || !strings.Contains(table, "HEALTH") {
		t.Fatalf("list table: %q %v", table, err)
	}
	if out, err := mesh("", "remove", "--name", "svc", "--instance-id", "f2"); err != nil || out != "removed svc (instance f2)\n" {
		t.Fatalf("remove: %q %v", out, err)
	}
	if _, err := mesh("", "remove", "--name", "svc", "--instance-id", "f2"); err == nil || !strings.Contains(err.Error(), string(ptp.NotFound)) {
		t.Fatalf("remove twice: %v", err)
	}
	if _, err := mesh("", "register", "--name", "bad", "--urn", "/v1/interconn/chan/push", "--address", "127.0.0.1:1"); err == nil ||
		!strings.Contains(err.Error(), string(ptp.BadRequest)+": content.services[0].urn: ") {
		t.Fatalf("register a reserved urn: %v", err)
	}
	if _, err := mesh("", "register", "--name", "x"); err == nil || !strings.Contains(err.Error(), "--urn") {
		t.Fatalf("register without --urn: %v", err)
	}
}
