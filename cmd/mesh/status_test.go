package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
)

// runStatus runs `mesh status --addr addr` and returns its output and error.
func runStatus(t *testing.T, addr string) (string, error) {
	t.Helper()
	cmd := statusCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--addr", addr})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// TestStatusReadsBothHealthShapes: `mesh status` reads /healthz of a ready
// node (exit 0, its figures) and of a node whose NATS is gone (exit
// non-zero, the node's reason), both in the one reply shape.
func TestStatusReadsBothHealthShapes(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats server not ready")
	}
	n := meshtest.Start(t, host.Config{NATSURL: srv.ClientURL(), ShutdownTimeout: 2 * time.Second})
	n.Identify(t, "status-node", "inst")
	out, err := runStatus(t, n.Addr)
	if err != nil || !strings.Contains(out, "ready:") || !strings.Contains(out, "yes") || !strings.Contains(out, "status-node") {
		t.Fatalf("status of a ready node: %v\n%s", err, out)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	meshtest.WaitFor(t, 20*time.Second, "status to say not ready", func() bool {
		ready, _, err := health(context.Background(), &control{endpoint: &endpoint{addr: n.Addr}})
		return err == nil && !ready
	})
	out, err = runStatus(t, n.Addr)
	if err == nil || !strings.Contains(err.Error(), "not ready: nats") || !strings.Contains(out, "NO: nats") {
		t.Fatalf("status of a node without nats: %v\n%s", err, out)
	}
}
