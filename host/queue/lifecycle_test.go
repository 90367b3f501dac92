package queue

import (
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/internal/event"
	"github.com/ppcmesh/mesh/host/internal/lifetest"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// TestCloseWaitsForReanchor: a re-anchor running in the background when
// Close is called ends before Close returns, and none starts after it.
func TestCloseWaitsForReanchor(t *testing.T) {
	a, _ := replicas(t)
	entered, release := make(chan struct{}), make(chan struct{})
	a.hooks = &faults{anchoring: func() { close(entered); <-release }}
	a.pushed(anchorEvery) // due at once
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no re-anchor started")
	}
	lifetest.Waits(t, "Close", a.Close, func() { close(release) })
	a.hooks = &faults{anchoring: func() { t.Error("re-anchor started after Close") }}
	a.pushed(anchorEvery)
	if a.anchor.busy.Load() {
		t.Fatal("a re-anchor is marked running after Close")
	}
}

// TestQueueHearsOnlyItsEvents: the queue subscribes to exactly the events
// it handles — the outbox's announcements and settle's questions on other
// mesh.* subjects never reach it.
func TestQueueHearsOnlyItsEvents(t *testing.T) {
	a, _ := replicas(t)
	for _, subject := range []string{natsnames.OutboxAdded + "node-p", natsnames.OutboxTotal + "node-p", natsnames.AskPopped + "OTHER", "mesh.unknown.x"} {
		if err := a.nc.Publish(subject, event.Encode("elsewhere", 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.nc.Publish(natsnames.Notify+"n.s.t", event.Encode("elsewhere", 1)); err != nil {
		t.Fatal(err)
	}
	delivered := func() (n uint64) {
		for _, s := range a.subs {
			d, _ := s.Delivered()
			n += uint64(d)
		}
		return n
	}
	waitFor(t, 10*time.Second, "the notify event", func() bool { return a.usage.held("n.s") > 0 })
	if got := delivered(); got != 1 {
		t.Fatalf("the queue's subscriptions delivered %d events, want only the notify", got)
	}
}
