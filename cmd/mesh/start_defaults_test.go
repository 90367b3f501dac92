package main

import (
	"os"
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host"
)

// startEnv are the variables `mesh start` reads: one per option, the
// --config file's and the older Mesh's port.
var startEnv = func() []string {
	env := []string{configEnv, legacyPortEnv}
	for _, o := range startOptions {
		env = append(env, o.env())
	}
	return env
}()

// parseStart parses args as `mesh start` does and returns the Config.
func parseStart(t *testing.T, args ...string) host.Config {
	t.Helper()
	f := pflag.NewFlagSet("start", pflag.ContinueOnError)
	sc := startFlags(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := sc.load(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStartFlagDefaultsAreTheTable: with no arguments and no environment,
// `mesh start` runs with exactly the node's table of defaults — no flag
// writes a default of its own.
func TestStartFlagDefaultsAreTheTable(t *testing.T) {
	for _, v := range startEnv {
		t.Setenv(v, "")
	}
	if got, want := parseStart(t), host.Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("mesh start's flag defaults differ from host.Defaults():\n got %+v\nwant %+v", got, want)
	}
}

// TestStartFlagEnvOverridesTable: an environment variable replaces the
// table's default, and a flag replaces both.
func TestStartFlagEnvOverridesTable(t *testing.T) {
	for _, v := range startEnv {
		t.Setenv(v, "")
	}
	t.Setenv("MESH_LISTEN", "127.0.0.1:9")
	t.Setenv("MESH_CONTAINER_NETS", "10.0.0.0/8,127.0.0.1/32")
	cfg := parseStart(t)
	if cfg.Listen != "127.0.0.1:9" || !reflect.DeepEqual(cfg.ContainerNets, []string{"10.0.0.0/8", "127.0.0.1/32"}) {
		t.Errorf("env not read: listen %q, container nets %q", cfg.Listen, cfg.ContainerNets)
	}
	if cfg := parseStart(t, "--listen", "127.0.0.1:10"); cfg.Listen != "127.0.0.1:10" {
		t.Errorf("--listen 127.0.0.1:10 gave %q", cfg.Listen)
	}
}
