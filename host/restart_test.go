package host_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// restart stops n and starts a node again on its home and port.
func restart(t *testing.T, n *meshtest.Node, home string, cfg host.Config) *meshtest.Node {
	t.Helper()
	n.Stop(t)
	cfg.Home, cfg.Listen = home, n.Addr
	m := meshtest.Start(t, cfg)
	m.ID, m.Inst = n.ID, n.Inst
	return m
}

// popAll pops want messages from topic and checks they are m0..m{want-1}
// in order, and that nothing follows.
func popAll(t *testing.T, n *meshtest.Node, session, topic string, want int) {
	t.Helper()
	c := &meshtest.HTTPClient{URL: n.URL, Session: session, Raw: true}
	for i := range want {
		got, code, err := c.Pop(t.Context(), topic, 10000)
		if code != ptp.OK || string(got) != fmt.Sprintf("m%d", i) {
			t.Fatalf("pop %d: %q %s %v", i, got, code, err)
		}
	}
	if got, code, _ := c.Pop(t.Context(), topic, 200); code != ptp.OK || len(got) != 0 {
		t.Fatalf("after %d messages, one more: %q %s", want, got, code)
	}
}

func TestPartnerRestartMidStream(t *testing.T) {
	homeB := t.TempDir()
	a := meshtest.Start(t, host.Config{})
	b := meshtest.Start(t, host.Config{Home: homeB})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)

	const total = 1000
	var pushed atomic.Int64
	done := make(chan error, 1)
	go func() {
		c := &meshtest.HTTPClient{URL: a.URL, Session: "restart", Target: "node-b", Raw: true}
		for i := range total {
			if code, err := c.Push(t.Context(), "t", fmt.Appendf(nil, "m%d", i)); code != ptp.OK {
				done <- fmt.Errorf("push %d: %s %v", i, code, err)
				return
			}
			pushed.Add(1)
		}
		done <- nil
	}()
	meshtest.WaitFor(t, 60*time.Second, "200 pushes", func() bool { return pushed.Load() >= 200 })
	b = restart(t, b, homeB, host.Config{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(120 * time.Second):
		t.Fatalf("pushes stuck after %d", pushed.Load())
	}
	if a.Host.NetworkStats().Retries == 0 {
		t.Fatal("B restarted, yet no push was retried: the test did not test anything")
	}
	popAll(t, b, "restart", "t", total)
}

func TestOutboxDeliversWhenPartnerReturns(t *testing.T) {
	homeA, homeB := t.TempDir(), t.TempDir()
	a := meshtest.Start(t, host.Config{Home: homeA})
	b := meshtest.Start(t, host.Config{Home: homeB})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, map[string]any{"outbox": true})
	b.Stop(t)

	const total = 50
	for i := range total {
		r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push",
			meshtest.Session("outbox", ptp.HeaderTargetNodeID, "node-b", ptp.HeaderTopic, "t"),
			map[string]any{"payload": fmt.Appendf(nil, "m%d", i)})
		if r.Code != ptp.OK || r.Metadata[ptp.HeaderDelivery] != "queued" {
			t.Fatalf("push %d with B down: %s", i, r.Body)
		}
	}
	// A restarts too while B is away: the parked messages are on disk.
	a = restart(t, a, homeA, host.Config{})
	b = restart(t, b, homeB, host.Config{})
	popAll(t, b, "outbox", "t", total)
	// Once drained, pushes go straight through again.
	meshtest.WaitFor(t, 30*time.Second, "a direct delivery", func() bool {
		r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push",
			meshtest.Session("outbox", ptp.HeaderTargetNodeID, "node-b", ptp.HeaderTopic, "after"), map[string]any{"payload": []byte("x")})
		return r.Code == ptp.OK && r.Metadata[ptp.HeaderDelivery] == "delivered"
	})
}
