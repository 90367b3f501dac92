// Package network weaves this node with partner nodes of other institutions
// and carries messages to them. It keeps the partner routes (persisted in a
// JetStream KV bucket, watched by every replica), runs the weave handshake
// that exchanges public root certificates and an authorisation code, tells
// which partner an inbound call comes from by its client certificate, and
// forwards pushes over pooled mTLS connections with retries, keepalives and
// an optional durable outbox.
package network

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/queue"
	"github.com/ppcmesh/mesh/host/tracing"
)

// Config tunes forwarding. Zero fields take the defaults.
type Config struct {
	Advertise      string        // the address partners reach this node at, sent in the handshake
	RetryFor       time.Duration // how long a push keeps retrying an unreachable partner; default 30s
	AttemptTimeout time.Duration // one delivery attempt; default 60s
	OutboxRetry    time.Duration // longest pause between outbox delivery rounds; default 30s
	MaxMessage     int64         // largest message to forward; default 128 MiB
	Streams        int           // transport streams per partner; default 4
	Replicas       int           // KV replicas; default 1
	Codecs         Encoder       // codec plugins; nil when the node runs none
	PendingTTL     time.Duration // an inbound handshake not acked lapses after it; default 1h
	Origin         string        // this replica's name in its events (the queue's Config.Origin); default random
	Hello          HelloLimits   // rate limits of the weave handshake; zero fields take the defaults
	// Lease, when set, makes this replica deliver the outbox only while it
	// holds the lease; the network runs it. Nil: this process delivers.
	Lease  Lease
	Logger *slog.Logger
	Tracer *tracing.Tracer // spans of forwards, and the trace context they carry on; nil: tracing off
}

// Lease is a duty one replica at a time performs (cluster.Lease).
type Lease interface {
	Run(ctx context.Context)
	Held() bool
	Changed() <-chan struct{}
}

// Encoder encodes a payload with the codec plugin it names.
type Encoder interface {
	Encode(ctx context.Context, codec string, payload []byte) ([]byte, error)
}

func (c *Config) defaults() {
	if c.RetryFor <= 0 {
		c.RetryFor = defaults.ForwardRetry
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 60 * time.Second
	}
	if c.OutboxRetry <= 0 {
		c.OutboxRetry = 30 * time.Second
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = defaults.MaxMessage
	}
	if c.Streams <= 0 {
		c.Streams = 4
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.PendingTTL <= 0 {
		c.PendingTTL = defaults.WeaveTTL
	}
	c.Hello = c.Hello.withDefaults()
	if c.Origin == "" {
		c.Origin = nuid.Next()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Network is this node's view of its partners.
type Network struct {
	cfg    Config
	log    *slog.Logger
	ident  *identity.Store
	queue  *queue.Queue
	routes *table
	links  *links
	outbox *outbox
	hellos *helloLimiter
	cancel context.CancelFunc
	done   sync.WaitGroup

	forwarded, forwardedBytes, retries, parked atomic.Int64
	partners                                   partnerSet // the same, per partner (partners.go)

	certMu  sync.Mutex
	cert    *tls.Certificate
	certPEM []byte
}

// Open loads the partner routes and starts watching them and delivering
// parked messages. Close stops it.
func Open(ctx context.Context, js jetstream.JetStream, ident *identity.Store, q *queue.Queue, cfg Config) (*Network, error) {
	cfg.defaults()
	routes, err := openTable(ctx, js, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	n := &Network{cfg: cfg, log: cfg.Logger, ident: ident, queue: q, routes: routes, hellos: newHelloLimiter(cfg.Hello), cancel: cancel}
	if err := routes.watch(wctx); err != nil {
		cancel()
		return nil, err
	}
	n.links = newLinks(n)
	n.outbox = newOutbox(n, js.Conn())
	if err := n.outbox.listen(); err != nil {
		cancel()
		return nil, err
	}
	if err := n.outbox.load(ctx); err != nil {
		n.outbox.stop()
		cancel()
		return nil, err
	}
	if cfg.Lease != nil {
		n.done.Go(func() { cfg.Lease.Run(wctx) })
	}
	n.done.Go(func() { n.outbox.run(wctx) })
	return n, nil
}

// Advertise is the address this node tells partners in the handshake; empty
// when it has none, and then partners cannot call it back.
func (n *Network) Advertise() string { return n.cfg.Advertise }

// Close stops the outbox and closes partner connections.
func (n *Network) Close() {
	n.cancel()
	n.done.Wait()
	n.outbox.stop()
	n.links.closeAll()
	n.routes.stop()
}

// DeliversOutbox reports whether this replica delivers parked messages now.
func (n *Network) DeliversOutbox() bool { return n.cfg.Lease == nil || n.cfg.Lease.Held() }

// Stats are forwarding totals since the process started.
type Stats struct {
	Forwarded      int64 `json:"forwarded"`       // messages partners stored
	ForwardedBytes int64 `json:"forwarded_bytes"` // their payload bytes
	Retries        int64 `json:"retries"`         // delivery attempts repeated
	Parked         int64 `json:"parked"`          // messages parked in the outbox
	Waiting        int64 `json:"outbox_waiting"`  // parked and not yet delivered
	// Partners are the same figures per woven partner, by node id (the
	// panel's rows and `mesh status --watch` read them).
	Partners []PartnerStats `json:"partners,omitempty"`
}

// PartnerStats are one partner's forwarding figures since the process
// started, and whether its link answers now.
type PartnerStats struct {
	NodeID         string `json:"node_id"`
	Up             bool   `json:"up"`              // the last call to it reached it
	Forwarded      int64  `json:"forwarded"`       // messages it stored
	ForwardedBytes int64  `json:"forwarded_bytes"` // their payload bytes
	Retries        int64  `json:"retries"`         // delivery attempts to it repeated
	Waiting        int64  `json:"outbox_waiting"`  // parked for it and not yet delivered
}

// Stats returns forwarding totals.
func (n *Network) Stats() Stats {
	return Stats{Forwarded: n.forwarded.Load(), ForwardedBytes: n.forwardedBytes.Load(),
		Retries: n.retries.Load(), Parked: n.parked.Load(), Waiting: int64(n.outbox.waiting()), Partners: n.partnerStats()}
}
