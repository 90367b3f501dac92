package host

import (
	"cmp"

	"github.com/ppcmesh/mesh/host/internal/defaults"
)

// Defaults is the configuration a zero Config validates to, as far as it
// does not depend on the machine it runs on: Home, Name and PluginCache
// are left empty (Validate derives them from the user's home directory,
// the host name and the port) and Logger nil. The flags of `mesh start`
// show these values; the table itself is host/internal/defaults.
func Defaults() Config {
	return Config{
		Listen: defaults.Listen, ContainerNets: defaults.ContainerNets(),
		MaxMessage: defaults.MaxMessage, MaxBytes: defaults.MaxBytes, SessionMaxBytes: defaults.SessionMaxBytes,
		MessageTTL: defaults.MessageTTL, ReleaseGrace: defaults.ReleaseGrace, FullWait: defaults.FullWait,
		DefaultPopWait: defaults.DefaultPopWait, MaxPopWait: defaults.MaxPopWait,
		ForwardRetry: defaults.ForwardRetry, WeaveTTL: defaults.WeaveTTL,
		ClusterName: defaults.ClusterName, ClusterWait: defaults.ClusterWait, ShutdownTimeout: defaults.ShutdownTimeout,
		MaxConns: defaultMaxConns(openFileLimit()), MaxStreams: defaults.MaxStreams,
		MaxPopsPerConn: defaults.MaxPopsPerConn, MaxPops: defaults.MaxPops,
		BodyGrace: defaults.BodyGrace, BodyMinRate: defaults.BodyMinRate,
		LogFormat: defaults.LogFormat, LogLevel: defaults.LogLevel,
	}
}

// fill sets each field of c left zero (or negative) to its value in d.
func (c *Config) fill(d Config) {
	orDefault(&c.Listen, d.Listen)
	if len(c.ContainerNets) == 0 {
		c.ContainerNets = d.ContainerNets
	}
	orDefault(&c.MaxMessage, d.MaxMessage)
	orDefault(&c.MaxBytes, d.MaxBytes)
	orDefault(&c.SessionMaxBytes, d.SessionMaxBytes)
	orDefault(&c.MessageTTL, d.MessageTTL)
	orDefault(&c.ReleaseGrace, d.ReleaseGrace)
	orDefault(&c.FullWait, d.FullWait)
	orDefault(&c.DefaultPopWait, d.DefaultPopWait)
	orDefault(&c.MaxPopWait, d.MaxPopWait)
	orDefault(&c.ForwardRetry, d.ForwardRetry)
	orDefault(&c.WeaveTTL, d.WeaveTTL)
	orDefault(&c.ClusterName, d.ClusterName)
	orDefault(&c.ClusterWait, d.ClusterWait)
	orDefault(&c.ShutdownTimeout, d.ShutdownTimeout)
	orDefault(&c.MaxConns, d.MaxConns)
	orDefault(&c.MaxStreams, d.MaxStreams)
	orDefault(&c.MaxPopsPerConn, d.MaxPopsPerConn)
	orDefault(&c.MaxPops, d.MaxPops)
	orDefault(&c.BodyGrace, d.BodyGrace)
	orDefault(&c.BodyMinRate, d.BodyMinRate)
	orDefault(&c.LogFormat, d.LogFormat)
	orDefault(&c.LogLevel, d.LogLevel)
}

// orDefault sets *v to d when *v is zero or, for numbers, negative.
func orDefault[T cmp.Ordered](v *T, d T) {
	var zero T
	if *v <= zero {
		*v = d
	}
}
