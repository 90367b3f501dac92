package network

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ppcmesh/mesh/host/internal/event"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestOutboxHeard: the replicas' events keep the count of what is parked
// per partner; a replica ignores its own and anything malformed.
func TestOutboxHeard(t *testing.T) {
	n := stubNet()
	n.cfg.Origin = "replica-a"
	o := newOutbox(n, nil)
	added, total := natsnames.OutboxAdded+"node-p", natsnames.OutboxTotal+"node-p"
	for _, tc := range []struct {
		subject, data string
		holds         bool
	}{
		{added, o.origin + " 1", false},                   // our own: counted when parked, not again
		{added, "other", false},                           // malformed: no count
		{natsnames.OutboxAdded, "other 1", false},         // malformed: no node
		{added + ".x", "other 1", false},                  // malformed: two tokens
		{natsnames.OutboxAdded + "=zz", "other 1", false}, // malformed: bad escape
		{added, "other 1", true},
		{total, "other x", true},  // malformed count: unchanged
		{total, "other ", true},   // no count: unchanged
		{total, "other -1", true}, // negative count: unchanged
		{total, "other 0", false},
		{total, "other 3", true},
		{total, o.origin + " 0", true},                  // our own
		{"mesh.outbox.removed.node-p", "other 0", true}, // unknown kind
	} {
		o.heard(&nats.Msg{Subject: tc.subject, Data: []byte(tc.data)})
		if got := o.holds("node-p"); got != tc.holds {
			t.Fatalf("after %s %q: holds %v, want %v", tc.subject, tc.data, got, tc.holds)
		}
	}
	if got := o.waiting(); got != 3 {
		t.Fatalf("waiting %d, want 3", got)
	}
}

// TestOutboxDue: a partner is due for a round once it has parked messages
// and its pause has passed; the loop sleeps until the earliest round.
func TestOutboxDue(t *testing.T) {
	o := newOutbox(stubNet(), nil)
	if d := o.untilNext(); d != time.Hour {
		t.Fatalf("nothing parked: next round in %v, want an hour", d)
	}
	now := time.Now()
	o.count["node-a"], o.next["node-a"] = 2, now.Add(-time.Second) // due
	o.count["node-b"], o.next["node-b"] = 1, now.Add(time.Minute)  // pausing
	o.count["node-c"], o.next["node-c"] = 0, now.Add(-time.Second) // nothing left
	if due := o.due(); len(due) != 1 || due[0] != "node-a" {
		t.Fatalf("due %v, want [node-a]", due)
	}
	if d := o.untilNext(); d != time.Millisecond {
		t.Fatalf("a round is due: next in %v, want 1ms", d)
	}
	delete(o.count, "node-a")
	if d := o.untilNext(); d < 50*time.Second || d > time.Minute {
		t.Fatalf("next round in %v, want node-b's minute", d)
	}
	o.heard(&nats.Msg{Subject: natsnames.OutboxAdded + "node-d", Data: event.Encode("other", 1)})
	if d := o.untilNext(); d > 100*time.Millisecond {
		t.Fatalf("a fresh parking waits %v for its round, want at most 100ms", d)
	}
}

// TestOutboxDeliversOnlyWoven: parked messages stay parked while their
// route is missing or not usable.
func TestOutboxDeliversOnlyWoven(t *testing.T) {
	n := stubNet(Route{NodeID: "node-p", State: StatePending}, Route{NodeID: "node-d", State: StateWoven, Disabled: true})
	o := newOutbox(n, nil)
	for _, id := range []string{"node-x", "node-p", "node-d"} {
		if o.deliverAll(context.Background(), id) {
			t.Errorf("%s: delivered to an unusable route", id)
		}
	}
}

// TestForwardParks: the parking decision of a push on a route with an
// outbox. An unreachable partner's push is parked (after a short try) and
// the next one joins it at once, to keep the order; a partner's refusal is
// never parked, and without an outbox nothing is.
func TestForwardParks(t *testing.T) {
	// A route with an outbox tries for 2 s before it parks, not RetryFor.
	n := openNet(t, Config{RetryFor: time.Minute})
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	refuser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":"E0000000400","message":"missing topic"}`))
	}))
	t.Cleanup(refuser.Close)
	for _, r := range []Route{
		{NodeID: "node-down", Address: down, Outbox: true},
		{NodeID: "node-plain", Address: down},
		{NodeID: "node-refuses", Address: refuser.URL, Outbox: true},
	} {
		r.State, r.AllowPlaintext = StateWoven, true
		if _, err := n.routes.put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	d := Delivery{Session: "s1", Topic: "t", Payload: []byte("m")}
	start := time.Now()
	rc, err := n.Forward(ctx, "node-down", "", d)
	if err != nil || !rc.Queued || !n.outbox.holds("node-down") {
		t.Fatalf("unreachable partner with an outbox: %+v, %v", rc, err)
	}
	if took := time.Since(start); took > 10*time.Second || n.Stats().Retries == 0 {
		t.Fatalf("parked after %v and %d retries: want a short try first", took, n.Stats().Retries)
	}
	retries := n.Stats().Retries
	if rc, err := n.Forward(ctx, "node-down", "", d); err != nil || !rc.Queued {
		t.Fatalf("push behind a parked one: %+v, %v", rc, err)
	}
	if got := n.Stats().Retries; got != retries {
		t.Fatalf("a push behind parked ones tried the partner first (%d retries)", got-retries)
	}
	if rc, err := n.Forward(ctx, "node-refuses", "", d); code(err) != ptp.BadRequest || rc.Queued || n.outbox.holds("node-refuses") {
		t.Fatalf("a refusal: %+v, %v; want BadRequest, not parked", rc, err)
	}
	n.cfg.RetryFor = 200 * time.Millisecond // a route without an outbox tries for RetryFor
	if rc, err := n.Forward(ctx, "node-plain", "", d); code(err) != ptp.NetworkUnreachable || rc.Queued {
		t.Fatalf("no outbox: %+v, %v; want NetworkUnreachable, not parked", rc, err)
	}
	if got := n.Stats().Parked; got != 2 {
		t.Fatalf("parked %d, want 2", got)
	}
}
