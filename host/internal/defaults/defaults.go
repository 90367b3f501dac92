// Package defaults is the one table of a node's default settings. The zero
// host.Config, the flags of `mesh start` (through host.Defaults) and every
// sub-package's zero-field fallback read these values, so that no default
// is written twice.
package defaults

import (
	"cmp"
	"net"
	"os"
	"time"
)

// The node's defaults, by the host.Config field they fill.
const (
	Listen          = ":7304"              // the one port for gRPC and HTTP
	HomeDir         = ".mesh"              // state directory, under the user's home directory
	MaxMessage      = int64(128 << 20)     // largest request (gRPC message or HTTP body)
	MaxBytes        = int64(8 << 30)       // all queues together
	SessionMaxBytes = int64(1 << 30)       // one session
	MessageTTL      = 72 * time.Hour       // unpopped messages expire after it
	ReleaseGrace    = 10 * time.Minute     // released sessions answer 608 this long
	FullWait        = 30 * time.Second     // a push waits this long for room before 700
	DefaultPopWait  = 120 * time.Second    // pop wait when the caller gives none
	MaxPopWait      = 11 * time.Hour       // longest pop wait: covers FATE's shipped 36,000,000 ms (10 h)
	ForwardRetry    = 30 * time.Second     // a push retries an unreachable partner this long before 607
	WeaveTTL        = time.Hour            // a partner's handshake nobody acks lapses after it
	ClusterName     = "mesh"               // NATS cluster name
	ClusterWait     = 2 * time.Minute      // how long start waits for the cluster to form
	ShutdownTimeout = 30 * time.Second     // how long in-flight calls get on stop
	PluginCacheDir  = "plugin-cache"       // wazero's compilation cache, under the home directory
	LogFormat       = "text"               // the log's format: text or json
	LogLevel        = "info"               // the least level logged: debug, info, warn or error
	replicaPrefix   = "mesh"               // replica names when the host has no name
	MaxMessageLimit = int64(2<<30 - 1<<20) // the largest MaxMessage allowed: gRPC's 2 GiB less room for the envelope
)

// The node's resource bounds.
const (
	MaxStreams     = 256              // concurrent streams per HTTP/2 or gRPC connection
	MaxPopsPerConn = 64               // below MaxStreams: a connection keeps streams to push on
	MaxPops        = 10_000           // pops waiting on the node
	BodyGrace      = 20 * time.Second // time a request body has before BodyMinRate counts
	BodyMinRate    = int64(64 << 10)  // bytes per second a request body must average after BodyGrace
)

// The weave handshake's rate limits (network.HelloLimits): token buckets per
// source IP and for the whole node.
const (
	HelloPerIPBurst = 16   // handshake calls one source may make at once
	HelloPerIPRate  = 0.5  // calls a second one source regains
	HelloNodeBurst  = 64   // handshake calls all sources together may make at once
	HelloNodeRate   = 2.0  // calls a second the node regains
	HelloSources    = 4096 // source buckets kept; the fullest are forgotten first
)

// ContainerNets are the networks containers are admitted from when nothing
// is configured: loopback only. Each call returns a fresh slice.
func ContainerNets() []string { return []string{"127.0.0.0/8", "::1/128"} }

// ReplicaName is a replica's default name: the machine's host name (or
// "mesh" without one) and, when listen has one, its port — unique among
// replicas on one machine as long as their ports differ.
func ReplicaName(listen string) string {
	hn, _ := os.Hostname()
	name := cmp.Or(hn, replicaPrefix)
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "" {
		name += "-" + port
	}
	return name
}

// Fill sets *v to d when *v is zero or, for numbers, negative: how every
// package applies a default to a field left unset.
func Fill[T cmp.Ordered](v *T, d T) {
	var zero T
	if *v <= zero {
		*v = d
	}
}
