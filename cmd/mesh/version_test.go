package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runVersion runs `bin version -o json` and decodes what it prints.
func runVersion(t *testing.T, bin string) buildInfo {
	t.Helper()
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("%s version -o json: %v %s", bin, err, out)
	}
	var b buildInfo
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	return b
}

// TestVersionFromVCS: a binary built from this Git checkout says
// which commit it was built from (and whether the tree was modified), the
// commit time, the Go version and the platform, in JSON and in the table.
func TestVersionFromVCS(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to compare with: %v", err)
	}
	// GOFLAGS may say -buildvcs=false (as a CI's does): this build asks for
	// the stamps itself.
	bin := filepath.Join(t.TempDir(), "mesh")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	b := runVersion(t, bin)
	if b.Commit != strings.TrimSpace(string(head)) || b.Date == "" || b.Version == "" {
		t.Fatalf("version of a VCS build: %+v, want commit %s and its time", b, head)
	}
	dirty, _ := exec.Command("git", "status", "--porcelain").Output()
	if b.Modified != (len(strings.TrimSpace(string(dirty))) > 0) {
		t.Errorf("modified = %v, but git status says %q", b.Modified, dirty)
	}
	if b.Go != runtime.Version() || b.Platform != runtime.GOOS+"/"+runtime.GOARCH || b.Protocol != "PTP/1.0" {
		t.Errorf("toolchain and platform: %+v", b)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mesh "+b.Version+" (PTP/1.0)\n") || !strings.Contains(string(out), b.Commit) {
		t.Fatalf("mesh version: %v\n%s", err, out)
	}
}

// TestVersionRejectsUnknownOutput: -o takes table or json only.
func TestVersionRejectsUnknownOutput(t *testing.T) {
	out, err := exec.Command(meshBin, "version", "-o", "yaml").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `output "yaml"`) {
		t.Fatalf("mesh version -o yaml: %v %s", err, out)
	}
}
