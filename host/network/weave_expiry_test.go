package network

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// openNet is a real network of node-b over an embedded NATS, for the tests
// that need a Config the host does not expose (a short PendingTTL).
func openNet(t *testing.T, cfg Config) *Network {
	t.Helper()
	ctx := context.Background()
	nc, err := cluster.Start(ctx, cluster.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := queue.Open(ctx, nc.Conn, nc.JS, queue.Config{Pool: nc.Pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	id, err := identity.Open(ctx, nc.JS, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Close)
	if _, err := id.Refresh(ctx, identity.Refresh{NodeID: "node-b", InstID: "inst-b"}); err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Open(ctx, nc.JS, id, q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// provenHello is a hello from node id under a fresh root, with the
// connection that proves it (TLS, a client certificate from that root).
func provenHello(t *testing.T, id, remote string) (Hello, *Conn) {
	t.Helper()
	root, err := pki.NewRoot(id)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := pki.Issue(root, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(kp.CertPEM)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	rblk, _ := pem.Decode(root.CertPEM)
	h := Hello{NodeID: id, RootCrt: string(root.CertPEM), Address: "127.0.0.1:9", Target: "node-b",
		Commit: hex.EncodeToString(Commitment(id, rblk.Bytes, newNonce()))}
	return h, &Conn{TLS: true, Remote: remote, certs: []*x509.Certificate{leaf}}
}

// waitLapsed polls until the route to id shows expired (bounded: 10 s).
func waitLapsed(t *testing.T, n *Network, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r, err := n.Get(id); err == nil && r.State == StateExpired {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handshake with %s never lapsed", id)
		}
	}
}

// TestPendingHandshakesLapse: a handshake no operator acks lapses after
// PendingTTL: it shows expired, cannot be acked, no longer counts against
// the cap, and the next hello sweeps it (or, on a route our operator made,
// drops the candidate and keeps the operator's address).
func TestPendingHandshakesLapse(t *testing.T) {
	n := openNet(t, Config{PendingTTL: 300 * time.Millisecond})
	ctx := context.Background()
	if _, err := n.Refresh(ctx, RouteRequest{NodeID: "node-op", Address: "127.0.0.1:7"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"node-x", "node-op"} {
		h, c := provenHello(t, id, "127.0.0.3")
		if _, err := n.Greet(ctx, c, h); err != nil {
			t.Fatalf("hello from %s: %v", id, err)
		}
		if r, _ := n.Get(id); r.State != StatePending {
			t.Fatalf("%s after its hello: %+v", id, r)
		}
	}
	if got := n.pendingIn(time.Now()); got != 1 {
		t.Fatalf("%d handshakes counted against the cap, want 1", got)
	}
	waitLapsed(t, n, "node-x")
	if got := n.pendingIn(time.Now()); got != 0 {
		t.Fatalf("a lapsed handshake still counts against the cap (%d)", got)
	}
	if _, err := n.Ack(ctx, AckRequest{NodeID: "node-x", Code: "AAAA-AAAA-AAAA-AAAA"}); code(err) != ptp.NetworkExpired {
		t.Fatalf("ack of a lapsed handshake: %v", err)
	}
	// Another party's hello for node-op is welcome once its candidate
	// lapsed, and sweeps node-x.
	waitLapsed(t, n, "node-op")
	h, c := provenHello(t, "node-op", "127.0.0.4")
	if _, err := n.Greet(ctx, c, h); err != nil {
		t.Fatalf("hello after the candidate lapsed: %v", err)
	}
	if _, err := n.Get("node-x"); code(err) != ptp.NotFound {
		t.Fatalf("the lapsed route was not swept: %v", err)
	}
	if r, _ := n.Get("node-op"); r.Address != "127.0.0.1:7" || r.State != StatePending {
		t.Fatalf("the operator's route after a new candidate: %+v", r)
	}
}

func code(err error) ptp.Code { c, _ := ptp.Describe(err); return c }
