package api

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestStatsFieldNames: the JSON names of /stats are the ones probes,
// dashboards and `mesh status` read; the cluster appears only when the node
// reports one.
func TestStatsFieldNames(t *testing.T) {
	base := []string{"held_bytes", "held_messages", "network", "node_id", "pid", "plugins", "popped", "popped_bytes", "pushed", "pushed_bytes", "services", "sessions", "waiting_pops"}
	for _, tc := range []struct {
		name string
		s    Stats
		want []string
	}{
		{"without a cluster", Stats{}, base},
		{"with a cluster", Stats{Cluster: map[string]int{"replicas": 3}}, append([]string{"cluster"}, base...)},
	} {
		data, err := json.Marshal(tc.s)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: fields %v, want %v", tc.name, got, tc.want)
		}
	}
}
