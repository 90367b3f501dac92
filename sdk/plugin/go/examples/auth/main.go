// Command auth is an example Mesh auth policy: it admits containers, and
// partners only when their node id is on an allow-list.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o allowlist.wasm .
package main

import (
	"slices"
	"strings"

	"github.com/ppcmesh/mesh/sdk/plugin/go/auth"
	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
)

func init() { auth.Register(policy) }

// policy admits containers and the partners named in config "nodes"
// (comma-separated node ids).
func policy(r auth.Request) (auth.Decision, error) {
	if r.Caller != auth.CallerPartner {
		return auth.Allow(), nil
	}
	list, _ := pdk.Config("nodes")
	if slices.Contains(strings.Split(list, ","), r.SourceNode) {
		return auth.Allow(), nil
	}
	pdk.Log(pdk.LevelInfo, "refused partner "+r.SourceNode)
	return auth.Deny("node " + r.SourceNode + " is not on the allow-list"), nil
}

// main is never run in a reactor; the package must still have one.
func main() {}
