package main

import (
	"encoding/json"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/cluster"
)

// TestStatusDecodesWhatTheNodeWrites: `mesh status` decodes the api.Stats
// the node encodes, with its cluster as the host's ClusterStatus, and no
// cluster when the node reports none.
func TestStatusDecodesWhatTheNodeWrites(t *testing.T) {
	cs := host.ClusterStatus{Status: cluster.Status{Replica: "r1", Replicas: 3, NATS: "embedded"}, QueueLeader: "r2", Outbox: true}
	for _, tc := range []struct {
		name string
		sent api.Stats
		want *host.ClusterStatus
	}{
		{"with a cluster", api.Stats{NodeID: "node-a", Pushed: 3, Popped: 2, Cluster: cs}, &cs},
		{"without", api.Stats{NodeID: "node-a", Pushed: 3, Popped: 2}, nil},
	} {
		data, err := json.Marshal(tc.sent)
		if err != nil {
			t.Fatal(err)
		}
		var got nodeStats
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.NodeID != "node-a" || got.Pushed != 3 || got.Popped != 2 {
			t.Fatalf("%s: decoded %+v", tc.name, got.Stats)
		}
		if (got.Cluster == nil) != (tc.want == nil) || got.Cluster != nil && (got.Cluster.Replica != "r1" || got.Cluster.QueueLeader != "r2" || !got.Cluster.Outbox) {
			t.Fatalf("%s: cluster %+v, want %+v", tc.name, got.Cluster, tc.want)
		}
	}
}
