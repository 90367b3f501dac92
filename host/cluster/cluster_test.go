package cluster_test

import (
	"context"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/cluster"
)

// start runs an embedded NATS alone under a temporary store.
func start(t *testing.T, cfg cluster.Config) *cluster.NATS {
	t.Helper()
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := cluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStartAlone: an embedded NATS alone serves at once with one replica,
// the one default replica name (the host's, defaults.ReplicaName) and pool, and no client port.
func TestStartAlone(t *testing.T) {
	n := start(t, cluster.Config{})
	defer n.Close()
	if err := n.Ready(context.Background()); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	st := n.Status()
	if st.Replica != defaults.ReplicaName("") || st.Replicas != 1 || st.NATS != "embedded" || len(st.Routes) != 0 {
		t.Fatalf("status %+v", st)
	}
	if len(n.Pool) != 2 || n.Server == nil || n.JS == nil {
		t.Fatalf("pool %d, server %v, js %v", len(n.Pool), n.Server, n.JS)
	}
	if n.Peers() != nil {
		t.Fatalf("peers of a lone server: %v", n.Peers())
	}
	if a := n.Server.Addr(); a != nil {
		t.Fatalf("a client port is open without ClientListen: %v", a)
	}
}

// TestStartOptions: a name and pool size are kept, and a store written
// before a restart is found again.
func TestStartOptions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	n := start(t, cluster.Config{StoreDir: dir, Name: "replica-1", Pool: 1})
	if n.Status().Replica != "replica-1" || len(n.Pool) != 1 {
		t.Fatalf("status %+v, pool %d", n.Status(), len(n.Pool))
	}
	kv, err := n.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "kept", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	n.Close()
	n = start(t, cluster.Config{StoreDir: dir, Name: "replica-1"})
	defer n.Close()
	kv, err = n.JS.KeyValue(ctx, "kept")
	if err != nil {
		t.Fatalf("the bucket did not survive a restart: %v", err)
	}
	if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("the key did not survive a restart: %v", err)
	}
}

// TestStartRefuses: bad configurations are refused before anything runs,
// with a message that says why.
func TestStartRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  cluster.Config
		says string
	}{
		{cluster.Config{Replicas: -1}, "want 1 to 5"},
		{cluster.Config{Replicas: 6}, "want 1 to 5"},
		{cluster.Config{URL: "nats://127.0.0.1:1", ClusterListen: "127.0.0.1:0"}, "exclude each other"},
	} {
		tc.cfg.StoreDir = t.TempDir()
		tc.cfg.Wait = time.Second
		n, err := cluster.Start(context.Background(), tc.cfg)
		if err == nil {
			n.Close()
			t.Errorf("%+v: started", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%+v: %v, want it to say %q", tc.cfg, err, tc.says)
		}
	}
}

// TestCloseEndsReady: after Close the replica is no longer ready, and
// Close is not reported as a lost connection.
func TestCloseEndsReady(t *testing.T) {
	n := start(t, cluster.Config{})
	n.Close()
	if err := n.Ready(context.Background()); err == nil {
		t.Fatal("ready after Close")
	}
	select {
	case <-n.Lost():
		t.Fatalf("Close reported as a lost connection: %v", n.LostErr())
	default:
	}
}
