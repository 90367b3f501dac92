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

// TestRegistryTTL: --ttl 0 or below 1 ms, or beyond registry.MaxValidity,
// is refused before anything is sent; below registry.RelativeLimit it
// goes as a relative validity, from it as an absolute expiry by the CLI's
// clock.
func TestRegistryTTL(t *testing.T) {
	now := time.UnixMilli(1_900_000_000_000)
	in := registerFlags{name: "n", urn: "/x", address: "127.0.0.1:1", proto: registry.ProtoHTTP}
	for _, ttl := range []time.Duration{0, -time.Second, time.Microsecond, registry.MaxValidity + time.Millisecond} {
		in.ttl = ttl
		if _, err := in.body(nil, now); err == nil || !strings.Contains(err.Error(), "--ttl") {
			t.Errorf("--ttl %v: %v, want a refusal naming --ttl", ttl, err)
		}
	}
	for ttl, want := range map[time.Duration]registry.Millis{
		time.Millisecond:                1,
		time.Minute:                     60_000,
		29*time.Minute + 59*time.Second: 1_799_000,
		30 * time.Minute:                registry.Millis(now.Add(30 * time.Minute).UnixMilli()),
		registry.MaxValidity:            registry.Millis(now.Add(registry.MaxValidity).UnixMilli()),
	} {
		in.ttl = ttl
		body, err := in.body(nil, now)
		if err != nil {
			t.Fatalf("--ttl %v: %v", ttl, err)
		}
		if got := body.(registry.Registration).Timestamp; got != want {
			t.Errorf("--ttl %v: timestamp %d, want %d", ttl, got, want)
		}
	}
}
