// Package host runs a Mesh node: the embedded NATS store, the session queues,
// the node identity, and the gRPC and HTTP servers sharing one port. Its API
// is small: fill a Config, call New, then Run.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/node"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/portmux"
	"github.com/ppcmesh/mesh/host/queue"
)

// Config is the whole configuration of a node. Zero values take defaults;
// flags and environment variables of `mesh start` fill it.
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
	MaxPopWait      time.Duration // longest pop wait; longer timeouts are clamped to it; default api.DefaultMaxPopWait (11h)
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
	Name            string        // this replica's name, unique among the replicas; default host-port
	SyncAlways      bool          // fsync every stored message
	ShutdownTimeout time.Duration // how long in-flight calls get on stop; default 30s
	PluginCache     string        // wazero's compilation cache of plugins (keyed by module bytes, safe to share); default <Home>/plugin-cache
	Logger          *slog.Logger

	// resource bounds (defaults in bounds.go)
	MaxConns       int           // connections open at once on the port; default the open-file limit less a reserve, at most 32,768
	MaxStreams     uint32        // concurrent streams on one HTTP/2 or gRPC connection; default 256
	MaxPopsPerConn int           // pops waiting at once on one connection; default 64
	MaxPops        int           // pops waiting at once on the node; default 10,000
	BodyGrace      time.Duration // time a request body has before BodyMinRate counts; default 20s
	BodyMinRate    int64         // bytes per second a request body must average after BodyGrace; default 64 KiB/s
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Home == "" {
		dir, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no home directory: set --home or MESH_HOME: %w", err)
		}
		c.Home = filepath.Join(dir, ".mesh")
	}
	if c.Listen == "" {
		c.Listen = ":7304"
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if len(c.ContainerNets) == 0 {
		c.ContainerNets = api.DefaultContainerNets
	}
	if _, err := api.ParseNets(c.ContainerNets); err != nil {
		return err
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 128 << 20
	}
	if c.MaxMessage > 2<<30-(1<<20) {
		return fmt.Errorf("max message %d bytes: at most 2 GiB - 1 MiB", c.MaxMessage)
	}
	if c.Name == "" {
		hn, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(c.Listen)
		c.Name = orDefault(hn, "mesh") + "-" + port
	}
	if c.ClusterWait <= 0 {
		c.ClusterWait = 2 * time.Minute
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return c.boundDefaults()
}

// Host is a running node.
type Host struct {
	cfg     Config
	log     *slog.Logger
	nats    *cluster.NATS
	queue   *queue.Queue
	ident   *node.Store
	net     *network.Network
	engine  *plugin.Engine
	plugins *plugin.Registry
	ln      net.Listener
	mux     *portmux.Mux
	grpc    *grpc.Server
	http    *http.Server
	drain   context.CancelFunc
	lock    *homeLock
}

// New opens the store and binds the port. Run serves; if Run is never
// called, Close releases what New took.
func New(ctx context.Context, cfg Config) (_ *Host, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("home %s: %w", cfg.Home, err)
	}
	if h.lock, err = lockHome(cfg.Home); err != nil {
		return nil, err
	}
	h.nats, err = cluster.Start(ctx, cluster.Config{StoreDir: filepath.Join(cfg.Home, "nats"),
		ClientListen: cfg.NATSListen, SyncAlways: cfg.SyncAlways, Name: cfg.Name,
		URL: cfg.NATSURL, Creds: cfg.NATSCreds, CA: cfg.NATSCA,
		ClusterListen: cfg.ClusterListen, ClusterPeers: cfg.ClusterPeers, ClusterName: cfg.ClusterName,
		ClusterToken: cfg.ClusterToken, Replicas: cfg.Replicas, Wait: cfg.ClusterWait, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	r := h.nats.Replicas
	// One replica at a time creates or updates the streams and buckets:
	// concurrent identical creates were measured to go unanswered.
	hctx, cancel := context.WithTimeout(ctx, cfg.ClusterWait)
	release, err := h.nats.Lease("open").Hold(hctx)
	cancel()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := h.opening(ctx, "queues", func(ctx context.Context) (err error) {
		h.queue, err = queue.Open(ctx, h.nats.Conn, h.nats.JS, queue.Config{
			MaxBytes: cfg.MaxBytes, SessionMaxBytes: cfg.SessionMaxBytes, MessageTTL: cfg.MessageTTL,
			ReleaseGrace: cfg.ReleaseGrace, FullWait: cfg.FullWait, Replicas: r, Pool: h.nats.Pool,
			// Direct gets may be served by a follower that has not yet seen a
			// pop's delete; only a single copy can serve them safely.
			DirectGet: r == 1, Origin: cfg.Name,
		})
		return err
	}); err != nil {
		return nil, err
	}
	if err := h.opening(ctx, "identity", func(ctx context.Context) (err error) {
		h.ident, err = node.Open(ctx, h.nats.JS, r, cfg.Hosts)
		return err
	}); err != nil {
		return nil, err
	}
	h.ident.CheckRenames(h.queuedUnder)
	if h.engine, err = plugin.NewEngine(orDefault(cfg.PluginCache, filepath.Join(cfg.Home, "plugin-cache")), cfg.Logger); err != nil {
		return nil, err
	}
	if err := h.opening(ctx, "plugins", func(ctx context.Context) (err error) {
		h.plugins, err = plugin.Open(ctx, h.nats.JS, h.engine, r, cfg.Logger)
		return err
	}); err != nil {
		return nil, err
	}
	if h.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if err := h.opening(ctx, "partner routes", func(ctx context.Context) error {
		var err error
		h.net, err = network.Open(ctx, h.nats.JS, h.ident, h.queue, network.Config{Advertise: h.advertise(),
			RetryFor: cfg.ForwardRetry, PendingTTL: cfg.WeaveTTL, MaxMessage: cfg.MaxMessage, Codecs: h.plugins, Replicas: r,
			Lease: h.nats.Lease("outbox"), Logger: cfg.Logger})
		return err
	}); err != nil {
		return nil, err
	}
	h.build()
	return h, nil
}

// opening runs open, again while it fails because a cluster just formed
// has not yet elected the leaders of its streams (no responders, timeouts),
// for at most ClusterWait.
func (h *Host) opening(ctx context.Context, what string, open func(context.Context) error) error {
	deadline := time.Now().Add(h.cfg.ClusterWait)
	for {
		// No deadline of our own: each NATS request has nats.go's (5 s), and
		// opening the plugins compiles them, which may take longer.
		err := open(ctx)
		if err == nil || !cluster.Transient(err) || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		h.log.Info("waiting for the nats cluster", "opening", what, "err", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// advertise is the address told to partners: the configured one, else the
// bound address when it names a particular host.
func (h *Host) advertise() string {
	if h.cfg.Advertise != "" {
		return h.cfg.Advertise
	}
	if ta, ok := h.ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		return ta.String()
	}
	return ""
}

// build makes the servers over the opened store.
func (h *Host) build() {
	drainCtx, drain := context.WithCancel(context.Background())
	h.drain = drain
	nets, _ := api.ParseNets(h.cfg.ContainerNets) // checked by Validate
	svc := api.NewService(h.queue, h.ident, h.net, h.plugins, api.Limits{
		DefaultPopWait: h.cfg.DefaultPopWait, MaxPopWait: h.cfg.MaxPopWait, MaxBody: h.cfg.MaxMessage, Logger: h.log,
		Pops: api.NewPopLimiter(h.cfg.MaxPopsPerConn, h.cfg.MaxPops)},
		api.Admission{Nets: nets, Token: h.cfg.ContainerToken}, drainCtx)
	limit := int(h.cfg.MaxMessage) + 1<<20 // room for the envelope
	h.grpc = grpc.NewServer(
		grpc.Creds(network.ServerCreds()),
		grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(limit), grpc.MaxConcurrentStreams(h.cfg.MaxStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	)
	api.RegisterGRPC(h.grpc, svc)
	handler := api.NewHandler(svc, h.ident, h.queue, h.net, api.HTTPConfig{
		MaxBody: h.cfg.MaxMessage, AdminToken: h.cfg.AdminToken, Ready: h.Ready, Cluster: h.clusterStatus})
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	// One HTTP/2 connection may mix gRPC and HTTP (the older Mesh's proxy
	// pools one per partner): the mux sends such connections here, and
	// Mixed serves their gRPC requests through grpc.Server.ServeHTTP.
	h.http = &http.Server{Handler: portmux.Mixed(h.grpc, handler), Protocols: protocols,
		ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20, IdleTimeout: 5 * time.Minute,
		HTTP2:       &http.HTTP2Config{MaxConcurrentStreams: int(h.cfg.MaxStreams)},
		ConnContext: api.BodyRate{Grace: h.cfg.BodyGrace, MinRate: h.cfg.BodyMinRate}.ConnContext}
	h.mux = portmux.New(h.ln)
	h.mux.MaxConns, h.mux.Logger = h.cfg.MaxConns, h.log
	h.mux.TLS = h.net.ServerTLS()
}

// Addr is the address the node listens on.
func (h *Host) Addr() net.Addr { return h.ln.Addr() }

// Stats returns the node's running totals.
func (h *Host) Stats() queue.Stats { return h.queue.Stats() }

// NetworkStats returns the node's forwarding totals.
func (h *Host) NetworkStats() network.Stats { return h.net.Stats() }

// Routes counts the connections the node's port has served, by how: HTTP/1,
// pure gRPC on grpc-go's native transport, or other HTTP/2 (gRPC and HTTP
// routed per request).
func (h *Host) Routes() portmux.Routes { return h.mux.Routes() }

// ClusterStatus is how this replica sees the node's cluster.
type ClusterStatus struct {
	cluster.Status
	QueueLeader string `json:"queue_leader,omitempty"` // NATS server leading the queue stream
	Outbox      bool   `json:"outbox_lease"`           // this replica delivers the outbox
}

func (h *Host) clusterStatus(ctx context.Context) any {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return ClusterStatus{Status: h.nats.Status(), QueueLeader: h.queue.Leader(ctx), Outbox: h.net.DeliversOutbox()}
}

// Ready reports whether the node can serve: its store answers.
func (h *Host) Ready(ctx context.Context) error {
	if err := h.nats.Ready(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return h.queue.Ready(ctx)
}

// Run serves until ctx ends, then stops gracefully: it stops accepting,
// wakes blocked pops, lets in-flight calls finish, and closes the store.
func (h *Host) Run(ctx context.Context) error {
	errc := make(chan error, 3)
	go func() { errc <- h.mux.Serve() }()
	go func() { errc <- h.grpc.Serve(h.mux.GRPC()) }()
	go func() {
		if err := h.http.Serve(h.mux.HTTP()); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	h.log.Info("mesh node serving", "listen", h.Addr().String(), "home", h.cfg.Home, "node_id", h.ident.NodeID(),
		"replica", h.cfg.Name, "replicas", h.nats.Replicas)
	if h.advertise() == "" {
		h.log.Warn("no address to advertise to partners: they cannot call this node back until it is set (--advertise host:port)")
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			err = fmt.Errorf("serve: %w", err)
		} else {
			err = nil
		}
	case <-h.nats.Lost():
		// nats.go gave up the connection: only a fresh start heals the node.
		err = fmt.Errorf("serve: %w", h.nats.LostErr())
	}
	h.shutdown()
	return err
}

func (h *Host) shutdown() {
	h.log.Info("mesh node stopping")
	_ = h.mux.Close()
	h.drain()
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
	defer cancel()
	// HTTP first: gRPC calls on mixed connections run as its handlers, and
	// grpc's GracefulStop would cut them rather than let them finish.
	_ = h.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() { h.grpc.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.grpc.Stop()
		<-done
	}
	h.Close()
	h.log.Info("mesh node stopped")
}

// Close releases the store and the port. Run calls it on its way out.
func (h *Host) Close() {
	if h.ln != nil {
		_ = h.ln.Close()
	}
	if h.net != nil {
		h.net.Close()
		h.net = nil
	}
	if h.plugins != nil {
		h.plugins.Close(context.Background())
		h.plugins = nil
	}
	if h.engine != nil {
		_ = h.engine.Close(context.Background())
		h.engine = nil
	}
	if h.ident != nil {
		h.ident.Close()
		h.ident = nil
	}
	if h.queue != nil {
		h.queue.Close()
	}
	if h.nats != nil {
		h.nats.Close()
		h.nats = nil
	}
	h.lock.release() // last: the store is closed
	h.lock = nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
