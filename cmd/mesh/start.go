package main

import (
	"cmp"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host"
)

func startCmd() *cobra.Command {
	var cfg host.Config
	var sec startSecrets
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node on this machine (embedded NATS; nothing else to install)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			for _, s := range []struct {
				dst *string
				src *secret
			}{{&cfg.AdminToken, sec.admin}, {&cfg.ContainerToken, sec.container}, {&cfg.ClusterToken, sec.cluster}} {
				if *s.dst, err = s.src.value(); err != nil {
					return err
				}
			}
			h, err := host.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return h.Run(cmd.Context())
		},
	}
	sec = startFlags(cmd.Flags(), &cfg)
	return cmd
}

// startSecrets are the tokens of `mesh start`, read from their files or
// the environment when it runs.
type startSecrets struct{ admin, container, cluster *secret }

// startFlags declares the flags of `mesh start` on f, filling cfg: each
// default is the environment's value where it names one, else the node's
// (host.Defaults), so that --help shows what a node runs with.
func startFlags(f *pflag.FlagSet, cfg *host.Config) (sec startSecrets) {
	def := host.Defaults()
	f.StringVar(&cfg.Home, "home", os.Getenv("MESH_HOME"), "state directory (env MESH_HOME; default ~/.mesh)")
	f.StringVar(&cfg.Listen, "listen", envOr("MESH_LISTEN", def.Listen), "address of the one gRPC+HTTP port (env MESH_LISTEN)")
	sec.admin = secretFlags(f, "admin-token", "MESH_ADMIN_TOKEN", "bearer token that lets non-loopback callers use control endpoints")
	f.StringSliceVar(&cfg.ContainerNets, "container-nets", splitList(envOr("MESH_CONTAINER_NETS", strings.Join(def.ContainerNets, ","))),
		`networks containers are admitted from without the container token, CIDRs (env MESH_CONTAINER_NETS; "none" for none)`)
	sec.container = secretFlags(f, "container-token", "MESH_CONTAINER_TOKEN", "bearer token that admits a container from any network")
	f.StringSliceVar(&cfg.Hosts, "host", nil, "extra DNS name or IP for the serving certificate (repeatable)")
	f.Int64Var(&cfg.MaxMessage, "max-message", def.MaxMessage, "largest request body or gRPC message, bytes")
	f.Int64Var(&cfg.MaxBytes, "max-bytes", def.MaxBytes, "bytes all queues may hold together")
	f.Int64Var(&cfg.SessionMaxBytes, "session-max-bytes", def.SessionMaxBytes, "bytes one session may hold")
	f.DurationVar(&cfg.MessageTTL, "message-ttl", def.MessageTTL, "unpopped messages expire after this")
	f.DurationVar(&cfg.ReleaseGrace, "release-grace", def.ReleaseGrace, "how long a released session answers E0000000608")
	f.DurationVar(&cfg.FullWait, "full-wait", def.FullWait, "how long a push waits for room before E0000000700")
	f.DurationVar(&cfg.DefaultPopWait, "pop-wait", def.DefaultPopWait, "pop wait when the caller gives none")
	f.DurationVar(&cfg.MaxPopWait, "max-pop-wait", def.MaxPopWait, "longest pop wait; longer pop timeouts are clamped to it")
	f.StringVar(&cfg.Advertise, "advertise", os.Getenv("MESH_ADVERTISE"), "address partners reach this node at, told them when weaving (env MESH_ADVERTISE; default the --listen address when it names a host)")
	f.DurationVar(&cfg.WeaveTTL, "weave-ttl", def.WeaveTTL, "a partner's handshake that nobody acks lapses after this")
	f.DurationVar(&cfg.ForwardRetry, "forward-retry", def.ForwardRetry, "how long a push to a partner retries an unreachable partner before E0000000607")
	f.StringVar(&cfg.NATSListen, "nats-listen", "", "open a NATS client port on the embedded server (e.g. 127.0.0.1:4222)")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", def.ShutdownTimeout, "how long in-flight calls get to finish when the node stops")
	f.BoolVar(&cfg.SyncAlways, "sync-always", false, "fsync every stored message (survives power loss; slower)")
	f.StringVar(&cfg.Name, "name", os.Getenv("MESH_NAME"), "this replica's name, unique among the node's replicas (env MESH_NAME; default HOSTNAME-PORT)")
	f.StringVar(&cfg.NATSURL, "nats-url", os.Getenv("MESH_NATS_URL"), "use this external NATS cluster (comma-separated nats:// or tls:// URLs) instead of the embedded server (env MESH_NATS_URL)")
	f.StringVar(&cfg.NATSCreds, "nats-creds", os.Getenv("MESH_NATS_CREDS"), "NATS credentials file for --nats-url (env MESH_NATS_CREDS)")
	f.StringVar(&cfg.NATSCA, "nats-ca", os.Getenv("MESH_NATS_CA"), "PEM file of the CA of the external NATS servers (env MESH_NATS_CA)")
	f.StringVar(&cfg.ClusterListen, "cluster-listen", os.Getenv("MESH_CLUSTER_LISTEN"), "route address of the embedded NATS, to cluster with the node's other replicas (env MESH_CLUSTER_LISTEN)")
	f.StringSliceVar(&cfg.ClusterPeers, "cluster-peers", splitList(os.Getenv("MESH_CLUSTER_PEERS")), "route addresses of all the replicas, host:port,… (env MESH_CLUSTER_PEERS)")
	f.StringVar(&cfg.ClusterName, "cluster-name", def.ClusterName, "name of the replicas' NATS cluster")
	sec.cluster = secretFlags(f, "cluster-token", "MESH_CLUSTER_TOKEN", "secret the replicas' routes share; required unless they listen on loopback")
	f.DurationVar(&cfg.ClusterWait, "cluster-wait", def.ClusterWait, "how long start waits for enough replicas to form the cluster")
	f.IntVar(&cfg.Replicas, "replicas", def.Replicas, "servers keeping each queue and bucket (0: 3 when the cluster has three or more, else 1)")
	// operations
	f.StringVar(&cfg.AdminListen, "admin-listen", os.Getenv("MESH_ADMIN_LISTEN"), "serve the control API, /metrics, pprof and the panel on this separate address (e.g. 127.0.0.1:7305); the data port then serves no control endpoints (env MESH_ADMIN_LISTEN)")
	f.StringVar(&cfg.LogFormat, "log-format", envOr("MESH_LOG_FORMAT", "text"), "log format: text or json (env MESH_LOG_FORMAT)")
	f.StringVar(&cfg.LogLevel, "log-level", envOr("MESH_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env MESH_LOG_LEVEL)")
	f.BoolVar(&cfg.AccessLog, "access-log", false, "log one line per request: operation, session, topic, bytes, code, duration, caller")
	f.StringVar(&cfg.AuditLog, "audit-log", os.Getenv("MESH_AUDIT_LOG"), "append every control change, with who made it, to this file as JSON lines (they are logged either way) (env MESH_AUDIT_LOG)")
	f.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", os.Getenv("MESH_OTLP_ENDPOINT"), "export OpenTelemetry traces to this OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318); tracing is off without it (env MESH_OTLP_ENDPOINT)")
	// resource bounds
	f.IntVar(&cfg.MaxConns, "max-conns", def.MaxConns,
		"connections open at once on the port, idle ones included; past it new ones are closed at once; the default is the open-file limit less 1,024 kept for the store and partners, at most 32,768")
	f.Uint32Var(&cfg.MaxStreams, "max-streams", def.MaxStreams, "concurrent streams (calls) on one gRPC or HTTP/2 connection")
	f.IntVar(&cfg.MaxPopsPerConn, "max-pops-per-conn", def.MaxPopsPerConn,
		"pops waiting at once on one connection, below --max-streams; past it a pop answers E0000000700")
	f.IntVar(&cfg.MaxPops, "max-pops", def.MaxPops, "pops waiting at once on the node; past it a pop answers E0000000700")
	f.DurationVar(&cfg.BodyGrace, "body-grace", def.BodyGrace, "time an HTTP request body has before --body-min-rate counts")
	f.Int64Var(&cfg.BodyMinRate, "body-min-rate", def.BodyMinRate,
		"bytes per second an HTTP request body must average after --body-grace; a slower one is cut off with E0000000601")
	return sec
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func envOr(name, def string) string { return cmp.Or(os.Getenv(name), def) }
