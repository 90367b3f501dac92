package main

import (
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
)

func startCmd() *cobra.Command {
	var cfg host.Config
	var admin, container, clusterTok *secret
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node on this machine (embedded NATS; nothing else to install)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			for _, s := range []struct {
				dst *string
				src *secret
			}{{&cfg.AdminToken, admin}, {&cfg.ContainerToken, container}, {&cfg.ClusterToken, clusterTok}} {
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
	f := cmd.Flags()
	f.StringVar(&cfg.Home, "home", os.Getenv("MESH_HOME"), "state directory (env MESH_HOME; default ~/.mesh)")
	f.StringVar(&cfg.Listen, "listen", envOr("MESH_LISTEN", ":7304"), "address of the one gRPC+HTTP port (env MESH_LISTEN)")
	admin = secretFlags(f, "admin-token", "MESH_ADMIN_TOKEN", "bearer token that lets non-loopback callers use control endpoints")
	f.StringSliceVar(&cfg.ContainerNets, "container-nets", splitList(envOr("MESH_CONTAINER_NETS", strings.Join(api.DefaultContainerNets, ","))),
		`networks containers are admitted from without the container token, CIDRs (env MESH_CONTAINER_NETS; "none" for none)`)
	container = secretFlags(f, "container-token", "MESH_CONTAINER_TOKEN", "bearer token that admits a container from any network")
	f.StringSliceVar(&cfg.Hosts, "host", nil, "extra DNS name or IP for the serving certificate (repeatable)")
	f.Int64Var(&cfg.MaxMessage, "max-message", 128<<20, "largest request body or gRPC message, bytes")
	f.Int64Var(&cfg.MaxBytes, "max-bytes", 8<<30, "bytes all queues may hold together")
	f.Int64Var(&cfg.SessionMaxBytes, "session-max-bytes", 1<<30, "bytes one session may hold")
	f.DurationVar(&cfg.MessageTTL, "message-ttl", 72*time.Hour, "unpopped messages expire after this")
	f.DurationVar(&cfg.ReleaseGrace, "release-grace", 10*time.Minute, "how long a released session answers E0000000608")
	f.DurationVar(&cfg.FullWait, "full-wait", 30*time.Second, "how long a push waits for room before E0000000700")
	f.DurationVar(&cfg.DefaultPopWait, "pop-wait", 120*time.Second, "pop wait when the caller gives none")
	f.DurationVar(&cfg.MaxPopWait, "max-pop-wait", api.DefaultMaxPopWait, "longest pop wait; longer pop timeouts are clamped to it")
	f.StringVar(&cfg.Advertise, "advertise", os.Getenv("MESH_ADVERTISE"), "address partners reach this node at, told them when weaving (env MESH_ADVERTISE; default the --listen address when it names a host)")
	f.DurationVar(&cfg.WeaveTTL, "weave-ttl", time.Hour, "a partner's handshake that nobody acks lapses after this")
	f.DurationVar(&cfg.ForwardRetry, "forward-retry", 30*time.Second, "how long a push to a partner retries an unreachable partner before E0000000607")
	f.StringVar(&cfg.NATSListen, "nats-listen", "", "open a NATS client port on the embedded server (e.g. 127.0.0.1:4222)")
	f.BoolVar(&cfg.SyncAlways, "sync-always", false, "fsync every stored message (survives power loss; slower)")
	f.StringVar(&cfg.Name, "name", os.Getenv("MESH_NAME"), "this replica's name, unique among the node's replicas (env MESH_NAME; default HOSTNAME-PORT)")
	f.StringVar(&cfg.NATSURL, "nats-url", os.Getenv("MESH_NATS_URL"), "use this external NATS cluster (comma-separated nats:// or tls:// URLs) instead of the embedded server (env MESH_NATS_URL)")
	f.StringVar(&cfg.NATSCreds, "nats-creds", os.Getenv("MESH_NATS_CREDS"), "NATS credentials file for --nats-url (env MESH_NATS_CREDS)")
	f.StringVar(&cfg.NATSCA, "nats-ca", os.Getenv("MESH_NATS_CA"), "PEM file of the CA of the external NATS servers (env MESH_NATS_CA)")
	f.StringVar(&cfg.ClusterListen, "cluster-listen", os.Getenv("MESH_CLUSTER_LISTEN"), "route address of the embedded NATS, to cluster with the node's other replicas (env MESH_CLUSTER_LISTEN)")
	f.StringSliceVar(&cfg.ClusterPeers, "cluster-peers", splitList(os.Getenv("MESH_CLUSTER_PEERS")), "route addresses of all the replicas, host:port,… (env MESH_CLUSTER_PEERS)")
	f.StringVar(&cfg.ClusterName, "cluster-name", "mesh", "name of the replicas' NATS cluster")
	clusterTok = secretFlags(f, "cluster-token", "MESH_CLUSTER_TOKEN", "secret the replicas' routes share; required unless they listen on loopback")
	f.DurationVar(&cfg.ClusterWait, "cluster-wait", 2*time.Minute, "how long start waits for enough replicas to form the cluster")
	f.IntVar(&cfg.Replicas, "replicas", 0, "servers keeping each queue and bucket (0: 3 when the cluster has three or more, else 1)")
	// resource bounds; their defaults are host's
	f.IntVar(&cfg.MaxConns, "max-conns", 0,
		"connections open at once on the port, idle ones included; past it new ones are closed at once (0: the open-file limit less 1,024 kept for the store and partners, at most 32,768)")
	f.Uint32Var(&cfg.MaxStreams, "max-streams", host.DefaultMaxStreams, "concurrent streams (calls) on one gRPC or HTTP/2 connection")
	f.IntVar(&cfg.MaxPopsPerConn, "max-pops-per-conn", host.DefaultMaxPopsPerConn,
		"pops waiting at once on one connection, below --max-streams; past it a pop answers E0000000700")
	f.IntVar(&cfg.MaxPops, "max-pops", host.DefaultMaxPops, "pops waiting at once on the node; past it a pop answers E0000000700")
	f.DurationVar(&cfg.BodyGrace, "body-grace", host.DefaultBodyGrace, "time an HTTP request body has before --body-min-rate counts")
	f.Int64Var(&cfg.BodyMinRate, "body-min-rate", host.DefaultBodyMinRate,
		"bytes per second an HTTP request body must average after --body-grace; a slower one is cut off with E0000000601")
	return cmd
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
