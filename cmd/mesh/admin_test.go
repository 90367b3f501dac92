package main

import (
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestCLIOnTheAdminPort: with an admin port, the mesh commands that talk
// to the control API work with --addr (MESH_ADDRESS) pointed at it, and
// pointed at the data port they fail with the node's answer, which says
// where control went.
func TestCLIOnTheAdminPort(t *testing.T) {
	n := meshtest.Start(t, host.Config{AdminListen: "127.0.0.1:0"})
	admin := strings.TrimPrefix(n.AdminURL, "http://")
	if _, err := cli(t, admin, "", "node", "refresh", "--node-id", "node-a", "--inst-id", "inst-a"); err != nil {
		t.Fatal(err)
	}
	var pub identity.Public
	cliJSON(t, admin, &pub, "node", "show")
	if pub.NodeID != "node-a" {
		t.Fatalf("node show on the admin port: %+v", pub)
	}
	var routes []network.Route
	cliJSON(t, admin, &routes, "net", "list")
	for _, args := range [][]string{{"plugin", "list"}, {"registry", "list"}, {"status"}} {
		if _, err := cli(t, admin, "", args...); err != nil {
			t.Fatalf("mesh %v on the admin port: %v", args, err)
		}
	}
	if out, _ := cli(t, admin, "", "status"); !strings.Contains(out, "node-a") {
		t.Fatalf("mesh status on the admin port shows no figures:\n%s", out)
	}
	for _, args := range [][]string{{"node", "show"}, {"net", "list"}, {"plugin", "list"}} {
		_, err := cli(t, n.Addr, "", args...)
		if err == nil || !strings.Contains(err.Error(), string(ptp.NotFound)) || !strings.Contains(err.Error(), "admin port") {
			t.Fatalf("mesh %v on the data port: %v", args, err)
		}
	}
}
