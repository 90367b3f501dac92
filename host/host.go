// Package host runs a Mesh node: the embedded NATS store, the session queues,
// the node identity, and the gRPC and HTTP servers sharing one port. Its API
// is small: fill a Config, call New, then Run.
package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/audit"
	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/metrics"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/portmux"
	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/queue"
	"github.com/ppcmesh/mesh/host/registry"
	"github.com/ppcmesh/mesh/host/tracing"
)

// Host is a running node.
type Host struct {
	cfg     Config
	log     *slog.Logger
	nats    *cluster.NATS
	queue   *queue.Queue
	ident   *identity.Store
	net     *network.Network
	engine  *plugin.Engine
	plugins *plugin.Registry
	reg     *registry.Store // the service registry
	proxy   *proxy.Proxy    // carries calls to registered services
	ln      net.Listener
	mux     *portmux.Mux
	grpc    *grpc.Server
	http    *http.Server
	drain   func() // wakes blocked pops and ends transport streams: the node is stopping
	lock    *homeLock
	metrics *metrics.Metrics // the node's Prometheus registry, served at /metrics
	adminLn net.Listener     // the admin port (admin.go); nil without one
	keep    keepAlives       // the HTTP server's connections, for a handoff (upgrade.go)
	admin   *http.Server     // serves adminLn
	tracer  *tracing.Tracer  // the node's spans (tracing.go); nil: tracing off
	audit   *audit.Log       // records control changes (auditlog.go)
}

// New opens the store and binds the port. Run serves; if Run is never
// called, Close releases what New took.
func New(ctx context.Context, cfg Config) (_ *Host, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: cfg.Logger, metrics: newMetrics(cfg)}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, fmt.Errorf("home %s: %w", cfg.Home, err)
	}
	if h.lock, err = lockHomeWithin(cfg.Home, cfg.LockWait); err != nil {
		return nil, err
	}
	if err := h.openAudit(); err != nil {
		return nil, err
	}
	h.nats, err = cluster.Start(ctx, cfg.clusterConfig())
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
		h.queue, err = queue.Open(ctx, h.nats.Conn, h.nats.JS, cfg.queueConfig(r, h.nats.Pool))
		return err
	}); err != nil {
		return nil, err
	}
	if err := h.opening(ctx, "identity", func(ctx context.Context) (err error) {
		h.ident, err = identity.Open(ctx, h.nats.JS, r, cfg.Hosts)
		return err
	}); err != nil {
		return nil, err
	}
	h.ident.CheckRenames(h.queuedUnder)
	if err := h.openTracing(ctx); err != nil {
		return nil, err
	}
	if h.engine, err = plugin.NewEngine(cfg.PluginCache, cfg.Logger); err != nil {
		return nil, err
	}
	if err := h.opening(ctx, "plugins", func(ctx context.Context) (err error) {
		h.plugins, err = plugin.Open(ctx, h.nats.JS, h.engine, r, cfg.Logger)
		return err
	}); err != nil {
		return nil, err
	}
	if err := h.opening(ctx, "registry", func(ctx context.Context) (err error) {
		h.reg, err = registry.Open(ctx, h.nats.JS, r, cfg.Logger)
		return err
	}); err != nil {
		return nil, err
	}
	if h.ln, err = h.listen(SocketData, cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if err := h.listenAdmin(); err != nil {
		return nil, err
	}
	if err := h.opening(ctx, "partner routes", func(ctx context.Context) error {
		var err error
		nc := cfg.networkConfig(h.advertise(), h.plugins, r, h.nats.Lease("outbox"))
		nc.Tracer = h.tracer
		h.net, err = network.Open(ctx, h.nats.JS, h.ident, h.queue, nc)
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
	via := rand.Text() // marks this process's forwards, to refuse them should they come back
	h.proxy = proxy.New(proxy.Config{Routes: h.reg, Logger: h.log, MaxMessage: h.cfg.MaxMessage, Via: via, Tracer: h.tracer})
	svc := api.NewService(h.queue, h.ident, h.net, h.plugins, api.Services{Routes: h.reg, Upstreams: h.proxy, Via: via,
		Secrets: []string{h.cfg.ContainerToken, h.cfg.AdminToken}, Tracer: h.tracer},
		h.limits(), h.cfg.admission())
	h.drain = svc.Drain
	// Calls for methods the node's own services lack go to the registry's
	// routes, frame by frame: the codec passes their frames through raw.
	h.grpc = grpc.NewServer(append(h.cfg.grpcOptions(),
		grpc.ForceServerCodecV2(proxy.Codec()), grpc.UnknownServiceHandler(svc.ServeUnknownGRPC))...)
	api.RegisterGRPC(h.grpc, svc)
	handler := api.NewHandler(svc, h.ident, h.queue, h.net, api.HTTPConfig{
		MaxBody: h.cfg.MaxMessage, AdminToken: h.cfg.AdminToken, Ready: h.Ready, Cluster: h.clusterStatus,
		Registry: h.reg, Health: h.proxy.Health, AdminPort: h.cfg.AdminListen != "", Version: h.cfg.Version, Metrics: h.metrics.Handler(),
		Audit: h.audit})
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	// One HTTP/2 connection may mix gRPC and HTTP (the older Mesh's proxy
	// pools one per partner): the mux sends such connections here, and
	// Mixed serves their gRPC requests through grpc.Server.ServeHTTP.
	h.http = &http.Server{Handler: h.keep.wrap(portmux.Mixed(h.grpc, handler)), Protocols: protocols,
		ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20, IdleTimeout: 5 * time.Minute,
		HTTP2:       &http.HTTP2Config{MaxConcurrentStreams: int(h.cfg.MaxStreams)},
		ConnContext: h.keep.connContext(h.cfg.bodyRate().ConnContext), ConnState: h.keep.track}
	h.buildAdmin(handler.Admin(), protocols)
	h.mux = portmux.New(h.ln)
	h.mux.MaxConns, h.mux.Logger = h.cfg.MaxConns, h.log
	h.mux.TLS = h.net.ServerTLS()
	h.watchMetrics()
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
	errc := make(chan error, 4)
	go func() { errc <- h.mux.Serve() }()
	go func() { errc <- h.grpc.Serve(h.mux.GRPC()) }()
	go func() {
		if err := h.http.Serve(h.mux.HTTP()); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	h.serveAdmin(errc)
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
	h.stopAccepting() // upgrade.go
	// A handoff: HTTP/1 keep-alive connections close after a request (up
	// to lingerMax) before blocked pops end, so that the pops arriving
	// meanwhile wait for a message rather than answer empty at once.
	h.linger()
	h.drain() // blocked pops return empty; transport streams end
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
	defer cancel()
	// HTTP first: gRPC calls on mixed connections run as its handlers, and
	// grpc's GracefulStop would cut them rather than let them finish.
	_ = h.http.Shutdown(ctx)
	if h.admin != nil && h.admin.Shutdown(ctx) != nil {
		_ = h.admin.Close() // what the timeout left open
	}
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
	h.closeInherited()
	if h.ln != nil {
		_ = h.ln.Close()
	}
	if h.adminLn != nil {
		_ = h.adminLn.Close()
	}
	if h.net != nil {
		h.net.Close()
		h.net = nil
	}
	if h.proxy != nil {
		h.proxy.Close()
		h.proxy = nil
	}
	if h.reg != nil {
		h.reg.Close()
		h.reg = nil
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
	h.closeAudit()
	h.lock.release() // the store is closed; before the traces' flush, which may wait for a collector (a successor waits for the lock)
	h.lock = nil
	h.closeTracing() // the servers are stopped: every span has ended
}
