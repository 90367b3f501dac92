package api

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ppcmesh/mesh/host/queue"
)

// TestBySessionSumsAndBounds: queues are summed by session, the sessions
// holding most come first (ties by id), and the reply is cut at the limit
// with truncated set.
func TestBySessionSumsAndBounds(t *testing.T) {
	keys := map[queue.Key]uint64{
		{Node: "n", Session: "a", Topic: "x"}: 2, {Node: "n", Session: "a", Topic: "y"}: 3,
		{Node: "n", Session: "b", Topic: "x"}: 5, {Node: "n", Session: "c", Topic: "x"}: 1,
		{Node: "n", Session: "d", Topic: "x"}: 5,
	}
	got := bySession(keys, 3)
	want := Sessions{Sessions: []SessionInfo{{"a", 2, 5}, {"b", 1, 5}, {"d", 1, 5}}, Truncated: true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bySession: %+v, want %+v", got, want)
	}
	if got := bySession(keys, 4); got.Truncated || len(got.Sessions) != 4 {
		t.Fatalf("limit equal to the count: %+v", got)
	}
	many := map[queue.Key]uint64{}
	for i := range MaxSessionsListed + 10 {
		many[queue.Key{Node: "n", Session: fmt.Sprint("s", i), Topic: "t"}] = 1
	}
	if got := bySession(many, MaxSessionsListed); len(got.Sessions) != MaxSessionsListed || !got.Truncated {
		t.Fatalf("%d sessions: %d listed, truncated %v", len(many), len(got.Sessions), got.Truncated)
	}
	if got := bySession(nil, MaxSessionsListed); got.Sessions == nil || got.Truncated {
		t.Fatalf("no sessions: %+v (want an empty list, not null)", got)
	}
}
