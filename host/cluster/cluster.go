// Package cluster gives a node its NATS. By default that is an embedded
// nats-server with JetStream running in the same process, its store under
// the node's home, reached through an in-process connection with no client
// port open. The embedded servers of several replicas can form a NATS
// cluster among themselves (Config.ClusterListen and ClusterPeers), or every
// replica can use an external NATS cluster (Config.URL). Either way the
// replicas of a node share one JetStream: queues and state replicated to
// Replicas servers, and a readiness probe that fails when this replica
// cannot reach a quorum.
package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/internal/loopback"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/internal/jserr"
)

// Config says how to reach NATS.
type Config struct {
	// StoreDir is the JetStream store directory of the embedded server.
	StoreDir string
	// ClientListen, when set (host:port), opens a NATS client port on the
	// embedded server, e.g. for the nats CLI. Empty means no port at all,
	// or, in an embedded cluster, a loopback port with a random password.
	ClientListen string
	// MaxPayload is the largest NATS message, headers included (bytes).
	MaxPayload int32
	// SyncAlways makes JetStream fsync every write (survives power loss, slower).
	// Without it writes reach the OS before they are acknowledged, which
	// survives a crash of the process.
	SyncAlways bool
	// Name names this replica: the embedded server's name (unique within a
	// cluster) and its key in the health bucket. Default: defaults.ReplicaName.
	Name string
	// Pool is how many further connections to open for hot-path requests;
	// the server handles each connection's traffic in order. Default 2.
	Pool int

	// URL, when set, points at an external NATS cluster (comma-separated
	// nats:// or tls:// URLs) and no server is embedded.
	URL string
	// Creds is a NATS credentials file for URL.
	Creds string
	// CA is a PEM file of the CA that signed the external servers' certificates.
	CA string

	// ClusterListen (host:port) makes the embedded server listen for routes
	// from the embedded servers of the other replicas.
	ClusterListen string
	// ClusterPeers are the route addresses (host:port) of the replicas; this
	// replica's own address may be among them.
	ClusterPeers []string
	// ClusterName names the NATS cluster; default defaults.ClusterName.
	ClusterName string
	// ClusterToken is the secret every route must present. Required unless
	// the routes listen on loopback only.
	ClusterToken string

	// Replicas is how many servers keep each stream and bucket. Zero
	// follows the cluster: 3 when it has three servers or more, else 1.
	Replicas int
	// Wait is how long Start waits for the cluster to form (a quorum that
	// can store with Replicas); default 2 minutes.
	Wait time.Duration
	// Logger reports progress while waiting.
	Logger *slog.Logger
}

// NATS is a running connection to NATS, and the embedded server if any.
type NATS struct {
	Server   *server.Server // nil when external
	Conn     *nats.Conn
	Pool     []*nats.Conn // further connections to spread requests over
	JS       jetstream.JetStream
	Replicas int    // servers keeping each stream and bucket
	Name     string // this replica's name
	health   *health
	leases   jetstream.KeyValue
	logger   *slog.Logger

	closing  atomic.Bool // set by Close: connections closing are not lost
	lostOnce sync.Once
	lost     chan struct{} // closed when a connection closed for good
	lostErr  error         // why; set before lost is closed
}

// DefaultMaxPayload is the embedded server's max_payload: within the 8 MiB
// that NATS recommends, large enough that 1 MiB payloads need no chunking.
const DefaultMaxPayload = 8 << 20

// Start starts the embedded server, or connects to the external cluster,
// and returns once JetStream can store with the chosen replication.
func Start(ctx context.Context, cfg Config) (_ *NATS, err error) {
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.Name == "" {
		cfg.Name = defaults.ReplicaName(cfg.ClusterListen)
	}
	if cfg.Pool == 0 {
		cfg.Pool = 2
	}
	if cfg.Wait <= 0 {
		cfg.Wait = defaults.ClusterWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Replicas < 0 || cfg.Replicas > 5 {
		return nil, fmt.Errorf("replicas %d: want 1 to 5, or 0 to follow the cluster", cfg.Replicas)
	}
	n := &NATS{Name: cfg.Name, logger: cfg.Logger, lost: make(chan struct{})}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	var connect func() (*nats.Conn, error)
	size := 1
	if cfg.URL != "" {
		if cfg.ClusterListen != "" || len(cfg.ClusterPeers) > 0 {
			return nil, errors.New("nats: an external NATS (--nats-url) and an embedded cluster (--cluster-listen) exclude each other")
		}
		connect = n.externalConnect(cfg)
	} else {
		if size, connect, err = n.embed(cfg); err != nil {
			return nil, err
		}
	}
	if n.Conn, err = firstConnect(ctx, cfg, connect); err != nil {
		return nil, err
	}
	for range cfg.Pool {
		nc, err := connect()
		if err != nil {
			return nil, fmt.Errorf("connect to nats: %w", err)
		}
		n.Pool = append(n.Pool, nc)
	}
	if cfg.URL != "" {
		size = len(n.Conn.Servers())
	}
	n.Replicas = cfg.Replicas
	if n.Replicas == 0 {
		n.Replicas = 1
		if size >= 3 {
			n.Replicas = 3
		}
	}
	if n.JS, err = jetstream.New(n.Conn); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := n.await(ctx, cfg); err != nil {
		return nil, err
	}
	return n, nil
}

// embed starts the embedded server; it returns the cluster's size and how
// to connect to it.
func (n *NATS) embed(cfg Config) (int, func() (*nats.Conn, error), error) {
	if cfg.StoreDir == "" {
		return 0, nil, errors.New("nats: store directory is required")
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		// The default 64 MiB pending limit stalls fast producers of 4 MiB chunks.
		MaxPending: 256 << 20,
		NoSigs:     true,
		NoLog:      true, // no logger of its own: setNATSLog gives it the node's
		SyncAlways: cfg.SyncAlways,
		DontListen: cfg.ClientListen == "",
	}
	size := 1
	var user, pass string
	if cfg.ClusterListen != "" {
		var err error
		if size, err = clusterOpts(opts, cfg); err != nil {
			return 0, nil, err
		}
		// Routes form only once the client accept loop runs (DontListen
		// would stop them), so a clustered server listens for clients too:
		// on loopback, behind a password only this process knows, unless
		// the operator asked for a client port.
		if cfg.ClientListen == "" {
			opts.DontListen = false
			opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
			user, pass = "mesh", secret()
			opts.Username, opts.Password = user, pass
		}
	}
	if cfg.ClientListen != "" {
		host, port, err := splitHostPort(cfg.ClientListen)
		if err != nil {
			return 0, nil, fmt.Errorf("nats client listen %q: %w", cfg.ClientListen, err)
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return 0, nil, fmt.Errorf("embedded nats: %w", err)
	}
	setNATSLog(srv, cfg.Logger)
	n.Server = srv
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		return 0, nil, errors.New("embedded nats: not ready after 30s")
	}
	if ra := srv.ClusterAddr(); ra != nil { // the bound route port, for --cluster-listen host:0
		cfg.Logger.Info("nats routes listening", "cluster_addr", ra.String())
	}
	return size, func() (*nats.Conn, error) {
		o := append(n.connOptions(cfg), nats.InProcessServer(srv))
		if user != "" {
			o = append(o, nats.UserInfo(user, pass))
		}
		return nats.Connect("", o...)
	}, nil
}

// clusterOpts fills the route options of an embedded cluster and returns
// the number of servers it will have.
func clusterOpts(opts *server.Options, cfg Config) (int, error) {
	host, port, err := splitHostPort(cfg.ClusterListen)
	if err != nil {
		return 0, fmt.Errorf("cluster listen %q: %w", cfg.ClusterListen, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // host:0 picks a free route port, as --listen does
	}
	if cfg.ClusterToken == "" && !loopback.Is(host) {
		return 0, fmt.Errorf("cluster listen %q is reachable from other machines: set a cluster token (--cluster-token or MESH_CLUSTER_TOKEN) that every replica shares", cfg.ClusterListen)
	}
	opts.Cluster = server.ClusterOpts{
		Name: cmp.Or(cfg.ClusterName, defaults.ClusterName), Host: host, Port: port,
		// Notice a peer that went silent (a partition drops packets and
		// sends no reset) within seconds rather than minutes.
		PingInterval: 2 * time.Second, MaxPingsOut: 3,
		ConnectRetries: -1,
	}
	if cfg.ClusterToken != "" {
		opts.Cluster.Username, opts.Cluster.Password = "mesh", cfg.ClusterToken
	}
	peers := map[string]bool{}
	for _, p := range cfg.ClusterPeers {
		p = strings.TrimSpace(p)
		if p == "" || p == cfg.ClusterListen {
			continue
		}
		if _, _, err := splitHostPort(p); err != nil {
			return 0, fmt.Errorf("cluster peer %q: want host:port", p)
		}
		if peers[p] {
			continue
		}
		peers[p] = true
		u := &url.URL{Scheme: "nats-route", Host: p}
		if cfg.ClusterToken != "" {
			u.User = url.UserPassword("mesh", cfg.ClusterToken)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return len(peers) + 1, nil
}

// externalConnect connects to the servers of cfg.URL.
func (n *NATS) externalConnect(cfg Config) func() (*nats.Conn, error) {
	return func() (*nats.Conn, error) {
		o := append(n.connOptions(cfg), nats.RetryOnFailedConnect(false))
		if cfg.Creds != "" {
			o = append(o, nats.UserCredentials(cfg.Creds))
		}
		if cfg.CA != "" {
			o = append(o, nats.RootCAs(cfg.CA))
		}
		return nats.Connect(cfg.URL, o...)
	}
}

// firstConnect connects, trying again while the servers are not up yet
// (replicas and an external cluster may start in any order), for at most
// cfg.Wait.
func firstConnect(ctx context.Context, cfg Config, connect func() (*nats.Conn, error)) (*nats.Conn, error) {
	start := time.Now()
	report := start
	for {
		nc, err := connect()
		if err == nil {
			return nc, nil
		}
		if cfg.URL == "" || time.Since(start) > cfg.Wait {
			return nil, fmt.Errorf("connect to nats: %w", err)
		}
		if time.Since(report) >= 5*time.Second {
			report = time.Now()
			cfg.Logger.Info("waiting for nats", "url", redact(cfg.URL), "waited", time.Since(start).Round(time.Second), "last_error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to nats: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// redact hides the passwords of NATS URLs, for logs.
func redact(urls string) string {
	var out []string
	for _, s := range strings.Split(urls, ",") {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil {
			s = u.Redacted()
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// await returns once JetStream stores with the chosen replication: a
// cluster whose replicas start one after another forms only when enough of
// them run. It reports progress while it waits.
func (n *NATS) await(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Wait)
	defer cancel()
	start := time.Now()
	report := start
	for {
		// Replicas starting together create these buckets at the same
		// moment, and concurrent creates of one stream were measured to
		// go unanswered: each attempt is short, and a retry finds the
		// bucket made. Everything else is opened under the "open" lease.
		actx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := n.openHealth(actx)
		if err == nil {
			err = n.openLeases(actx)
		}
		cancel()
		if err == nil {
			if err = n.health.probe(ctx); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("nats: jetstream cannot store with %d replicas after %s (are enough replicas running, and can they reach each other?): %w",
				n.Replicas, time.Since(start).Round(time.Second), err)
		}
		if time.Since(report) >= 5*time.Second {
			report = time.Now()
			cfg.Logger.Info("waiting for the nats cluster to form", "replicas", n.Replicas,
				"waited", time.Since(start).Round(time.Second), "last_error", err.Error())
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Ready reports whether this replica can serve: connected, and able to
// store with the cluster's quorum. The answer is cached for a second.
func (n *NATS) Ready(ctx context.Context) error {
	if err := n.connected(); err != nil {
		return err
	}
	if n.Server != nil && !n.Server.JetStreamEnabled() {
		return errors.New("nats: jetstream disabled")
	}
	return n.health.ready(ctx)
}

// closeFlushTimeout bounds the flush of each connection on Close.
const closeFlushTimeout = 5 * time.Second

// Close flushes and closes the connections, then stops the embedded server
// and waits for it to finish writing its store.
func (n *NATS) Close() {
	n.closing.Store(true)
	for _, nc := range append([]*nats.Conn{n.Conn}, n.Pool...) {
		if nc != nil {
			// A connection that is down has nothing to flush: waiting for
			// it would hold a node stopping during an outage for seconds
			// per connection.
			if nc.IsConnected() {
				_ = nc.FlushTimeout(closeFlushTimeout)
			}
			nc.Close()
		}
	}
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
	}
}

// Peers lists the names of the NATS servers this replica's server is routed
// to now (embedded cluster only).
func (n *NATS) Peers() []string {
	if n.Server == nil {
		return nil
	}
	rz, err := n.Server.Routez(nil)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rz.Routes {
		if !slices.Contains(out, r.RemoteName) {
			out = append(out, r.RemoteName)
		}
	}
	slices.Sort(out)
	return out
}

func secret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Transient reports whether err says JetStream is between leaders (a server
// died, or the cluster is forming) rather than refusing a request: no
// responders, a timeout, a connection being re-established, or "temporarily
// unavailable". Such a request may succeed when repeated.
// It is jserr.IsTransient, kept here for callers outside host/internal.
func Transient(err error) bool { return jserr.IsTransient(err) }

// Status is how this replica sees its NATS.
type Status struct {
	Replica  string   `json:"replica"`          // this replica's name
	Replicas int      `json:"replicas"`         // servers keeping each stream
	NATS     string   `json:"nats"`             // "embedded" or "external"
	Routes   []string `json:"routes,omitempty"` // servers the embedded one is routed to
	Server   string   `json:"server"`           // the NATS server this replica is connected to
}

// Status reports this replica's view of its NATS.
func (n *NATS) Status() Status {
	s := Status{Replica: n.Name, Replicas: n.Replicas, NATS: "external", Server: n.Conn.ConnectedServerName()}
	if n.Server != nil {
		s.NATS, s.Routes = "embedded", n.Peers()
	}
	return s
}
