package meshtest

import (
	"os"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Install installs the module at path on n as plugin name, with config and
// options, and fails the test unless the answer has code want.
func (n *Node) Install(tb testing.TB, name, path string, config map[string]string, o plugin.Options, want ptp.Code) Reply {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return n.Control(tb, "/v1/interconn/plugin/install", plugin.InstallRequest{Name: name, Wasm: wasm, Config: config, Options: o}, want)
}
