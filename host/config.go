package host

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/queue"
)

// Config is the whole configuration of a node. Zero values take the
// defaults of Defaults (the table is host/internal/defaults); flags and
// environment variables of `mesh start` fill it.
type Config struct {
	Home            string        // state directory (MESH_HOME); default ~/.mesh
	Listen          string        // the one port for gRPC and HTTP; default :7304
	AdminToken      string        // bearer token for control calls from non-loopback callers
	ContainerNets   []string      // networks containers are admitted from (CIDRs); default loopback; "none" for none
	ContainerToken  string        // bearer token that admits a container from anywhere
	Hosts           []string      // extra names and addresses for the serving certificate
	MaxMessage      int64         // largest request (gRPC message or HTTP body); default 128 MiB
	MaxBytes        int64         // all queues together; default 8 GiB
	SessionMaxBytes int64         // one session; default 1 GiB
	MessageTTL      time.Duration // unpopped messages expire after it; default 72h
	ReleaseGrace    time.Duration // released sessions answer 608 this long; default 10m
	FullWait        time.Duration // a push waits this long for room before 700; default 30s
	DefaultPopWait  time.Duration // pop wait when none is given; default 120s
	MaxPopWait      time.Duration // longest pop wait; longer timeouts are clamped to it; default 11h
	Advertise       string        // the address partners reach this node at, told them when weaving
	ForwardRetry    time.Duration // how long a push retries an unreachable partner before 607; default 30s
	WeaveTTL        time.Duration // a partner's handshake nobody acks lapses after it; default 1h
	NATSListen      string        // optional NATS client port of the embedded server
	NATSURL         string        // external NATS cluster (comma-separated URLs); empty embeds a server
	NATSCreds       string        // credentials file for NATSURL
	NATSCA          string        // CA file for tls:// NATS URLs
	ClusterListen   string        // route port of the embedded server, to cluster with the other replicas
	ClusterPeers    []string      // route addresses of the replicas (host:port)
	ClusterName     string        // NATS cluster name; default "mesh"
	ClusterToken    string        // secret the replicas' routes share
	ClusterWait     time.Duration // how long start waits for the cluster to form; default 2m
	Replicas        int           // servers keeping each stream and bucket; 0 follows the cluster (3 with ≥3)
	Name            string        // this replica's name, unique among the replicas; default HOSTNAME-PORT
	SyncAlways      bool          // fsync every stored message
	ShutdownTimeout time.Duration // how long in-flight calls get on stop; default 30s
	PluginCache     string        // wazero's compilation cache of plugins (keyed by module bytes, safe to share); default <Home>/plugin-cache
	Logger          *slog.Logger

	// operations (issue 18)
	AdminListen  string // separate port for the control API, /metrics, pprof and the panel; when set the data port serves no control endpoints
	LogFormat    string // text or json; default text (builds Logger when Logger is nil)
	LogLevel     string // debug, info, warn or error; default info
	AccessLog    bool   // one log line per request (operation, session, topic, bytes, code, duration, caller)
	AuditLog     string // file that every control change is appended to as a JSON line, besides the log; empty: the log only
	OTLPEndpoint string // OpenTelemetry OTLP/HTTP endpoint traces are exported to; empty: tracing off
	// TracerProvider, when set, records the node's spans instead of an OTLP
	// exporter (tests inject an in-memory one; its owner shuts it down).
	TracerProvider trace.TracerProvider

	// smooth upgrade (upgrade.go)
	Inherit  map[string]net.Listener // listening sockets handed over by the node's previous process, by role (SocketData, SocketAdmin): New serves them instead of binding
	LockWait time.Duration           // how long New waits for the home's lock while another process holds it (an upgrade's previous process, draining); 0 refuses at once
	Version  string                  // the binary's version, reported in /stats

	// resource bounds (see bounds.go)
	MaxConns       int           // connections open at once on the port; default the open-file limit less a reserve, at most 32,768
	MaxStreams     uint32        // concurrent streams on one HTTP/2 or gRPC connection; default 256
	MaxPopsPerConn int           // pops waiting at once on one connection; default 64
	MaxPops        int           // pops waiting at once on the node; default 10,000
	BodyGrace      time.Duration // time a request body has before BodyMinRate counts; default 20s
	BodyMinRate    int64         // bytes per second a request body must average after BodyGrace; default 64 KiB/s
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	home, err := HomeDir(c.Home)
	if err != nil {
		return err
	}
	c.Home = home
	c.fill(Defaults())
	c.Name = cmp.Or(c.Name, defaults.ReplicaName(c.Listen))
	c.PluginCache = cmp.Or(c.PluginCache, filepath.Join(c.Home, defaults.PluginCacheDir))
	if err := c.logSettings(); err != nil {
		return err
	}
	if c.Logger == nil {
		c.Logger, _ = NewLogger(os.Stderr, c.LogFormat, c.LogLevel) // checked by logSettings
	}
	return c.check()
}

// check checks a configuration whose defaults are filled.
func (c *Config) check() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if _, err := api.ParseNets(c.ContainerNets); err != nil {
		return err
	}
	if c.MaxMessage > defaults.MaxMessageLimit {
		return fmt.Errorf("max message %d bytes: at most 2 GiB - 1 MiB", c.MaxMessage)
	}
	return c.checkBounds()
}

// clusterConfig is the NATS store's part of c.
func (c *Config) clusterConfig() cluster.Config {
	return cluster.Config{StoreDir: filepath.Join(c.Home, "nats"),
		ClientListen: c.NATSListen, SyncAlways: c.SyncAlways, Name: c.Name,
		URL: c.NATSURL, Creds: c.NATSCreds, CA: c.NATSCA,
		ClusterListen: c.ClusterListen, ClusterPeers: c.ClusterPeers, ClusterName: c.ClusterName,
		ClusterToken: c.ClusterToken, Replicas: c.Replicas, Wait: c.ClusterWait, Logger: c.Logger}
}

// queueConfig is the queues' part of c, stored with replicas copies and
// spread over pool.
func (c *Config) queueConfig(replicas int, pool []*nats.Conn) queue.Config {
	return queue.Config{MaxBytes: c.MaxBytes, SessionMaxBytes: c.SessionMaxBytes, MessageTTL: c.MessageTTL,
		ReleaseGrace: c.ReleaseGrace, FullWait: c.FullWait, Replicas: replicas, Pool: pool,
		// Direct gets may be served by a follower that has not yet seen a
		// pop's delete; only a single copy can serve them safely.
		DirectGet: replicas == 1, Origin: c.Name}
}

// networkConfig is the partner network's part of c.
func (c *Config) networkConfig(advertise string, codecs network.Encoder, replicas int, lease network.Lease) network.Config {
	return network.Config{Advertise: advertise, RetryFor: c.ForwardRetry, PendingTTL: c.WeaveTTL,
		MaxMessage: c.MaxMessage, Codecs: codecs, Replicas: replicas, Lease: lease, Logger: c.Logger,
		Origin: c.Name} // the queue's origin too (queueConfig): one origin per replica
}

// limits is what c lets one container-API call ask for.
func (c *Config) limits() api.Limits {
	return api.Limits{DefaultPopWait: c.DefaultPopWait, MaxPopWait: c.MaxPopWait, MaxBody: c.MaxMessage,
		Logger: c.Logger, Pops: api.NewPopLimiter(c.MaxPopsPerConn, c.MaxPops)}
}

// admission is who c admits as a container without a partner certificate.
func (c *Config) admission() api.Admission {
	nets, _ := api.ParseNets(c.ContainerNets) // checked by Validate
	return api.Admission{Nets: nets, Token: c.ContainerToken}
}

// grpcOptions are the gRPC server's settings from c.
func (c *Config) grpcOptions() []grpc.ServerOption {
	limit := int(c.MaxMessage) + 1<<20 // room for the envelope
	return []grpc.ServerOption{
		grpc.Creds(network.ServerCreds()),
		grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(limit), grpc.MaxConcurrentStreams(c.MaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	}
}

// bodyRate is the pace c asks of HTTP request bodies.
func (c *Config) bodyRate() api.BodyRate {
	return api.BodyRate{Grace: c.BodyGrace, MinRate: c.BodyMinRate}
}
