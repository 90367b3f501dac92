package host_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// renameTo asks the node to take node id to and returns the reply.
func renameTo(t *testing.T, n *meshtest.Node, to string) meshtest.Reply {
	t.Helper()
	return meshtest.Post(t, n.URL, "/v1/interconn/node/refresh", nil, map[string]string{"node_id": to, "inst_id": "inst"})
}

// currentID is the node id the node reports.
func currentID(t *testing.T, n *meshtest.Node) string {
	t.Helper()
	var id struct {
		NodeID string `json:"node_id"`
	}
	meshtest.Get(t, n.URL+"/v1/interconn/node").Decode(t, &id)
	return id.NodeID
}

// TestRenameRefusedWhileMessagesWait: a node_id change is refused, with the
// count of waiting messages and how to drain them, while messages are
// queued under the old id; the refused rename changes nothing and hides
// nothing; once they are popped or released the rename goes through.
func TestRenameRefusedWhileMessagesWait(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	n.Identify(t, "old-id", "inst")
	a := &meshtest.HTTPClient{URL: n.URL, Session: "job-a"}
	b := &meshtest.HTTPClient{URL: n.URL, Session: "job-b"}
	for _, m := range []struct {
		c       *meshtest.HTTPClient
		topic   string
		payload string
	}{{a, "x", "a1"}, {a, "x", "a2"}, {a, "y", "a3"}, {b, "z", "b1"}} {
		if code, err := m.c.Push(t.Context(), m.topic, []byte(m.payload)); err != nil || code != ptp.OK {
			t.Fatalf("push: %s %v", code, err)
		}
	}
	r := renameTo(t, n, "new-id")
	if r.Status != http.StatusBadRequest || r.Code != ptp.BadRequest ||
		!strings.Contains(r.Message, `4 messages wait under node id "old-id"`) || !strings.Contains(r.Message, "pop them or release their sessions") {
		t.Fatalf("rename with 4 messages queued: %d %s", r.Status, r.Body)
	}
	if id := currentID(t, n); id != "old-id" {
		t.Fatalf("a refused rename renamed the node to %q", id)
	}
	if got, code, err := a.Peek(t.Context(), "x"); err != nil || code != ptp.OK || string(got) != "a1" {
		t.Fatalf("peek after the refused rename: %q %s %v", got, code, err)
	}
	for _, want := range []string{"a1", "a2"} {
		healPop(t, a, "x", want)
	}
	healPop(t, a, "y", "a3")
	if r := renameTo(t, n, "new-id"); r.Code != ptp.BadRequest || !strings.Contains(r.Message, "1 messages wait") {
		t.Fatalf("rename with 1 message queued: %s", r.Body)
	}
	if code, err := b.Release(t.Context(), ""); err != nil || code != ptp.OK {
		t.Fatalf("release: %s %v", code, err)
	}
	if r := renameTo(t, n, "new-id"); r.Code != ptp.OK {
		t.Fatalf("rename of a drained node: %s", r.Body)
	}
	if id := currentID(t, n); id != "new-id" {
		t.Fatalf("node id %q after the rename", id)
	}
	c := &meshtest.HTTPClient{URL: n.URL, Session: "after"}
	healPushPop(t, c, "t", "under the new id")
}

// TestFirstIdentityRefusedWhileMessagesWait: messages pushed before the
// node had an id wait under the empty id; identifying the node would hide
// them too, so it is refused the same way.
func TestFirstIdentityRefusedWhileMessagesWait(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	c := &meshtest.HTTPClient{URL: n.URL, Session: "early"}
	if code, err := c.Push(t.Context(), "t", []byte("early")); err != nil || code != ptp.OK {
		t.Skipf("a node without an id refuses pushes (%s %v): nothing can be hidden", code, err)
	}
	if r := renameTo(t, n, "first-id"); r.Code != ptp.BadRequest || !strings.Contains(r.Message, `1 messages wait under node id ""`) {
		t.Fatalf("first identity with a message queued: %s", r.Body)
	}
	healPop(t, c, "t", "early")
	if r := renameTo(t, n, "first-id"); r.Code != ptp.OK {
		t.Fatalf("first identity of a drained node: %s", r.Body)
	}
}
