package host

import "fmt"

// MaxConns by default: the open-file limit less fdReserve descriptors (half
// the limit when it is small) for the NATS store and its connections, the
// connections to partners and plugin files — so that the port's
// connections can never take the descriptors the node needs — and at most
// maxDefaultConns. The other bounds' defaults are in host/internal/defaults.
const (
	fdReserve       = 1024
	maxDefaultConns = 32_768
)

// checkBounds checks the resource bounds, their defaults filled.
func (c *Config) checkBounds() error {
	if uint32(c.MaxPopsPerConn) >= c.MaxStreams {
		return fmt.Errorf("max pops per connection (%d) must be below max streams (%d): a connection needs streams left to push on",
			c.MaxPopsPerConn, c.MaxStreams)
	}
	return nil
}

// defaultMaxConns is the default of MaxConns under an open-file limit of
// nofile (0 when unknown).
func defaultMaxConns(nofile uint64) int {
	switch {
	case nofile == 0:
		return maxDefaultConns / 4
	case nofile <= 2*fdReserve:
		return int(nofile / 2)
	}
	return int(min(nofile-fdReserve, maxDefaultConns))
}
