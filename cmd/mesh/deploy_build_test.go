package main

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDockerfileBuildStage runs the Dockerfile's build command here, as its
// build stage does (no .git in the context: -buildvcs=false), and checks
// the binary: static (no interpreter, no shared library), without this
// machine's paths (-trimpath), and saying the version and date given as
// build arguments. Docker itself is not needed.
func TestDockerfileBuildStage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	b, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDockerfile(string(b))
	if err != nil || d.build == "" {
		t.Fatalf("no go build RUN line: %v", err)
	}
	out := filepath.Join(t.TempDir(), "mesh")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(d.build, "/out/mesh", out))
	root, _ := filepath.Abs("../..")
	cmd.Dir = root
	const ver, date = "v0.0.0-image-test", "2026-01-02T03:04:05Z"
	cmd.Env = append(os.Environ(), "VERSION="+ver, "DATE="+date) // the stage's ARGs, as docker passes them
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", d.build, err, o)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || len(libs) > 0 {
			t.Fatalf("the image's binary is dynamically linked (%v): it would not run on a base without libc", libs)
		}
	}
	bin, _ := os.ReadFile(out)
	if bytes.Contains(bin, []byte(root)) {
		t.Error("the binary holds the build machine's source path: -trimpath missing")
	}
	v := runVersion(t, out)
	if v.Version != ver || v.Date != date || v.Commit != "" {
		t.Fatalf("mesh version of the image's binary: %+v, want %s built %s and no commit", v, ver, date)
	}
}

// TestSystemdUnitVerifies: systemd's own checker accepts the unit (every
// key known, the binary there and executable), when this machine has it.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze here")
	}
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "mesh.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/mesh", meshBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, analyze, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
