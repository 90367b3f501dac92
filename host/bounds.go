package host

import (
	"fmt"

	"github.com/ppcmesh/mesh/host/api"
)

// Defaults of the resource bounds of Config, the one place they are set:
// Validate applies them and `mesh start` shows them on its flags.
const (
	DefaultMaxStreams     = 256    // concurrent streams per HTTP/2 or gRPC connection
	DefaultMaxPopsPerConn = 64     // below DefaultMaxStreams: a connection keeps streams to push on
	DefaultMaxPops        = 10_000 // pops waiting on the node
	DefaultBodyGrace      = api.DefaultBodyGrace
	DefaultBodyMinRate    = api.DefaultBodyMinRate
	// MaxConns by default: the open-file limit less fdReserve descriptors
	// (half the limit when it is small) for the NATS store and its
	// connections, the connections to partners and plugin files — so that
	// the port's connections can never take the descriptors the node needs
	// — and at most maxDefaultConns.
	fdReserve       = 1024
	maxDefaultConns = 32_768
)

// boundDefaults fills the resource bounds left zero and checks them.
func (c *Config) boundDefaults() error {
	if c.MaxConns <= 0 {
		c.MaxConns = defaultMaxConns(openFileLimit())
	}
	if c.MaxStreams == 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxPopsPerConn <= 0 {
		c.MaxPopsPerConn = DefaultMaxPopsPerConn
	}
	if c.MaxPops <= 0 {
		c.MaxPops = DefaultMaxPops
	}
	if c.BodyGrace <= 0 {
		c.BodyGrace = DefaultBodyGrace
	}
	if c.BodyMinRate <= 0 {
		c.BodyMinRate = DefaultBodyMinRate
	}
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
