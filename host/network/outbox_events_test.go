package network

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/internal/event"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/queue"
)

// idleLease is a lease no replica ever holds: the outboxes count what is
// parked but never deliver, so only the events change their counts.
type idleLease struct{}

func (idleLease) Run(ctx context.Context)  { <-ctx.Done() }
func (idleLease) Held() bool               { return false }
func (idleLease) Changed() <-chan struct{} { return nil }

// replicaNets are two replicas of node-b over one embedded NATS, each with
// its own connection and its origin (the same for its queue and network).
func replicaNets(t *testing.T, origins ...string) []*Network {
	t.Helper()
	ctx := context.Background()
	srv, err := cluster.Start(ctx, cluster.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	var nets []*Network
	for _, origin := range origins {
		nc, err := nats.Connect("", nats.InProcessServer(srv.Server))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		nets = append(nets, openReplica(t, nc, origin))
	}
	return nets
}

// openReplica opens the queue, identity and network of one replica on nc.
func openReplica(t *testing.T, nc *nats.Conn, origin string) *Network {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(ctx, nc, js, queue.Config{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	id, err := identity.Open(ctx, js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(id.Close)
	n, err := Open(ctx, js, id, q, Config{Origin: origin, Lease: idleLease{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// waitHolds polls until o's count for node is want, for at most 10 s.
func waitHolds(t *testing.T, o *outbox, node string, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for o.parked(node) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d parked for %s, want %d", what, o.parked(node), node, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOutboxReplicaEvents: over real NATS, with the one event format and
// the replica's one origin, a replica applies the other's outbox events —
// a parking (added) and a recount (total) — and ignores its own, which it
// counted when it acted. The partner's id needs escaping in the subject.
func TestOutboxReplicaEvents(t *testing.T) {
	nets := replicaNets(t, "replica-a", "replica-b")
	a, b := nets[0].outbox, nets[1].outbox
	if a.origin != "replica-a" || b.origin != "replica-b" {
		t.Fatalf("outbox origins %q, %q: want the replicas' own", a.origin, b.origin)
	}
	ctx := context.Background()
	const partner = "node.p q" // a dot and a space: escaped in the subject
	if err := a.park(ctx, partner, Delivery{Session: "s1", Topic: "t", ID: "m1", Payload: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	waitHolds(t, b, partner, 1, "b hears a's parking")
	// A marker after a's own event, on a's connection: once a has it, a has
	// heard its own parking too (one publisher, one subscriber: in order).
	if err := a.nc.Publish(natsnames.OutboxAdded+"node-m", event.Encode("replica-c", 1)); err != nil {
		t.Fatal(err)
	}
	waitHolds(t, a, "node-m", 1, "a hears the marker")
	if got := a.parked(partner); got != 1 {
		t.Fatalf("a counts %d parked after hearing its own event, want 1", got)
	}
	k := queue.Key{Node: partner, Session: "s1", Topic: "t"}
	if err := nets[0].queue.Remove(ctx, k, "m1"); err != nil {
		t.Fatal(err)
	}
	a.drain(ctx, partner) // no route: delivers nothing, recounts and tells
	waitHolds(t, b, partner, 0, "b hears a's recount")
}
