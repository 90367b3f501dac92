// Package proxy carries requests to the instances of a registered route:
// HTTP/1.1 and h2c reverse proxying with streamed bodies and WebSocket
// pass-through, gRPC calls of every kind frame by frame, round-robin or
// least-request balancing, active health checks, passive ejection, retries
// of requests that are safe to replay, per-attempt timeouts and per-route
// statistics. It never decides who may call (package api does, before
// calling it) and never writes the node's replies: when it cannot forward it
// returns a *ptp.Error and the caller answers with that code.
package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/ppcmesh/mesh/host/internal/bg"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/registry"
	"github.com/ppcmesh/mesh/host/tracing"
)

// Defaults of the proxy, applied once by New.
const (
	// DefaultTimeout bounds one attempt of an HTTP request (to the end of
	// its response body) when its route sets no timeout. WebSocket upgrades
	// and gRPC calls get no default: only the route's timeout (and, for
	// gRPC, the caller's own deadline) bounds them.
	DefaultTimeout = 60 * time.Second
	// DefaultInterval and DefaultThreshold apply when a route's health
	// check leaves them zero.
	DefaultInterval  = 5 * time.Second
	DefaultThreshold = 3
	// MaxProbeTimeout bounds one health probe (shorter when the interval is).
	MaxProbeTimeout = 2 * time.Second
	// maxProbes bounds the health probes running at once.
	maxProbes = 16
	// MaxConnect bounds the connect of an upstream HTTP connection (half
	// the attempt's timeout when that is shorter), so that a connect that
	// hangs (a host down, SYNs dropped) fails as a dial error, which is
	// retried on another instance, instead of using the whole attempt.
	MaxConnect = 5 * time.Second
	// maxIdlePerHost bounds the idle HTTP connections kept per instance.
	maxIdlePerHost = 64
)

// ViaHeader carries Config.Via on forwarded requests and calls.
const ViaHeader = "x-mesh-via"

// Config is what a Proxy needs. Routes is required unless the proxy only
// forwards gRPC calls to given connections (ForwardGRPC).
type Config struct {
	Routes  registry.Matcher
	Timeout time.Duration // default per-attempt timeout of HTTP requests; DefaultTimeout when zero
	Logger  *slog.Logger
	// MaxMessage bounds one gRPC message to or from an upstream;
	// defaults.MaxMessage when zero (the node passes its own limit).
	MaxMessage int64
	// Via marks every request and call the proxy forwards, in header
	// ViaHeader, so that the node can tell its own forwards coming back (an
	// instance registered at the node's own address) and refuse them as a
	// routing loop. Empty: no mark.
	Via string
	// Dial, when set, replaces the TCP dialer for every upstream
	// connection and health probe (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Tracer records a span of each proxied call and sends its trace
	// context upstream; nil: tracing off (the caller's headers pass as
	// they came).
	Tracer *tracing.Tracer
}

// Proxy forwards requests to route instances. It is safe for concurrent use.
type Proxy struct {
	cfg   Config
	log   *slog.Logger
	group *bg.Group
	wake  chan struct{} // a new instance wants its first probe now

	h1, h2 *http.Transport
	rp1    *httputil.ReverseProxy
	rp2    *httputil.ReverseProxy

	mu     sync.Mutex
	routes map[string]*routeState      // by route key
	conns  map[string]*grpc.ClientConn // pooled gRPC connections by instance address
	closed bool
}

// New returns a running Proxy; Close stops it.
func New(cfg Config) *Proxy {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = defaults.MaxMessage
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	p := &Proxy{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "proxy"),
		group:  bg.New(),
		wake:   make(chan struct{}, 1),
		routes: map[string]*routeState{},
		conns:  map[string]*grpc.ClientConn{},
	}
	p.h1, p.h2 = newTransport(cfg.Dial, false), newTransport(cfg.Dial, true)
	p.rp1, p.rp2 = p.reverseProxy(p.h1), p.reverseProxy(p.h2)
	p.group.Go(p.checkLoop)
	return p
}

// Close stops the health checks and every goroutine the proxy started,
// waits for them, and closes pooled upstream connections.
func (p *Proxy) Close() {
	p.group.Stop()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[string]*grpc.ClientConn{}
	p.mu.Unlock()
	for _, cc := range conns {
		cc.Close()
	}
	p.h1.CloseIdleConnections()
	p.h2.CloseIdleConnections()
}

// newTransport is the HTTP transport to upstreams: HTTP/1.1, or h2c
// (HTTP/2 without TLS) when h2 is set.
func newTransport(dial func(context.Context, string, string) (net.Conn, error), h2 bool) *http.Transport {
	t := &http.Transport{
		DialContext:         connectBounded(dial),
		MaxIdleConnsPerHost: maxIdlePerHost,
		IdleConnTimeout:     90 * time.Second,
	}
	if h2 {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t
}

// connectBounded is dial with each connect bounded by connectTimeout of
// the attempt it is for (the transport's dial context carries the
// request's values).
func connectBounded(dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		limit := MaxConnect
		if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
			limit = connectTimeout(a.timeout)
		}
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		return dial(ctx, network, addr)
	}
}

// connectTimeout is the connect bound of an attempt of timeout d:
// MaxConnect, or half of d when that is shorter.
func connectTimeout(d time.Duration) time.Duration {
	if d > 0 && d/2 < MaxConnect {
		return d / 2
	}
	return MaxConnect
}

// timeout is the per-attempt timeout of a route.
func (p *Proxy) timeout(route registry.Route) time.Duration {
	if route.Timeout > 0 {
		return route.Timeout
	}
	return p.cfg.Timeout
}
