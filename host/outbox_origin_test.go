package host

import "testing"

// TestOutboxOrigin: a replica has one origin: its network (the outbox's
// events) names itself as its queue does (the queues' events), both after
// the replica's name.
func TestOutboxOrigin(t *testing.T) {
	c := Config{Home: t.TempDir(), Listen: "127.0.0.1:0"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	q, n := c.queueConfig(1, nil), c.networkConfig("", nil, 1, nil)
	if q.Origin == "" || n.Origin != q.Origin {
		t.Fatalf("network origin %q, queue origin %q: want one, non-empty", n.Origin, q.Origin)
	}
}
