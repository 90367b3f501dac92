package host

import "github.com/ppcmesh/mesh/host/cluster"

// NATSOf exposes a node's NATS to the tests that break its connection.
func NATSOf(h *Host) *cluster.NATS { return h.nats }
