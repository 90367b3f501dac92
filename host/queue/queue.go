// Package queue keeps the session queues of PTP in NATS JetStream: FIFO per
// (target node, session, topic), blocking pops woken by core-NATS
// notifications, release with a grace period, byte caps, expiry, and
// chunking of payloads larger than a NATS message.
//
// The design follows what was measured to scale: one stream for all queues,
// no consumer per queue. A pop reads the first message of its subject and
// deletes it by sequence; the delete is the compare-and-swap that makes
// concurrent pops, on one replica or many, hand each message to one caller.
package queue

import (
	"context"
	"fmt"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ppcmesh/mesh/host/internal/bg"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// Config bounds and tunes the queues. Zero fields take the defaults.
type Config struct {
	Stream          string        // JetStream stream name; default "PTP"
	Replicas        int           // stream replicas; default 1
	MaxBytes        int64         // all queues together; default 8 GiB
	SessionMaxBytes int64         // one session; default 1 GiB
	MessageTTL      time.Duration // a message not popped within it expires; default 72h
	ReleaseGrace    time.Duration // how long a released session answers 608; default 10m
	ChunkSize       int           // largest stored piece of a payload; default 4 MiB
	FullWait        time.Duration // how long a push waits for room before 700; default 30s
	DirectGet       bool          // read with JetStream direct get (fast; use with R1)
	Origin          string        // this replica's name, in the events it sends the others
	// Pool are further connections to spread hot-path requests over: the
	// server handles each connection's traffic in order, in one goroutine.
	Pool []*nats.Conn
}

func (c *Config) defaults() {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Stream == "" {
		c.Stream = natsnames.QueueStream
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	def(&c.MaxBytes, defaults.MaxBytes)
	def(&c.SessionMaxBytes, defaults.SessionMaxBytes)
	if c.MessageTTL <= 0 {
		c.MessageTTL = defaults.MessageTTL
	}
	if c.ReleaseGrace <= 0 {
		c.ReleaseGrace = defaults.ReleaseGrace
	}
	if c.Origin == "" {
		c.Origin = nuid.Next()
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 4 << 20
	}
	if c.FullWait <= 0 {
		c.FullWait = defaults.FullWait
	}
}

// Message is one queued message.
type Message struct {
	ID       string            // unique id; receivers de-duplicate on it
	Payload  []byte            // the bytes pushed
	Metadata map[string]string // the metadata pushed with it
	Stored   time.Time         // when it was stored (the store's clock); zero on a message not read from the store
}

// Stats are running totals since the process started.
type Stats struct {
	Pushed, Popped           int64 // messages
	PushedBytes, PoppedBytes int64
	Waiting                  int64 // pops blocked now
	Sessions                 int64 // sessions holding messages now
	HeldBytes                int64 // payload bytes they hold
	HeldMessages             int64 // messages they hold
}

// Queue is the set of session queues of one node.
type Queue struct {
	cfg      Config
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
	waiters  *waiters
	released *released
	usage    *usage
	subs     []*nats.Subscription // the replicas' events (events.go)
	cancel   context.CancelFunc
	chunk    int // payload bytes per stored piece
	pool     []*nats.Conn
	next     atomic.Uint32
	anchor   anchor
	popped   *popped            // sequences deleted for certain (popdedup.go)
	claims   jetstream.KeyValue // claims of doubtful pops
	asks     *nats.Subscription // other replicas' questions about pops
	hooks    *faults            // fault hooks; tests only
	bg       *bg.Group          // background work (re-anchoring), stopped by Close

	npushed, npopped, pushedBytes, poppedBytes atomic.Int64
}

// Open creates or updates the stream and buckets and starts listening for
// notifications. Close releases what it started.
func Open(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg Config) (*Queue, error) {
	cfg.defaults()
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "Mesh session queues",
		Subjects:    []string{headPrefix + ">", chunkPrefix + ">", anchorSubject},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxBytes:    cfg.MaxBytes,
		MaxAge:      cfg.MessageTTL,
		Discard:     jetstream.DiscardNew,
		Duplicates:  min(2*time.Minute, cfg.MessageTTL),
		AllowDirect: cfg.DirectGet,
	})
	if err != nil {
		return nil, fmt.Errorf("queue stream %s: %w", cfg.Stream, err)
	}
	q := &Queue{cfg: cfg, nc: nc, js: js, stream: stream, waiters: newWaiters(), usage: newUsage(cfg.SessionMaxBytes),
		pool: append([]*nats.Conn{nc}, cfg.Pool...), popped: newPopped(), bg: bg.New()}
	// Room for headers: the metadata cap plus NATS's own.
	q.chunk = min(cfg.ChunkSize, int(nc.MaxPayload())-maxMetadata-4096)
	if q.chunk < 64<<10 {
		return nil, fmt.Errorf("nats max_payload %d is too small for queues", nc.MaxPayload())
	}
	if err := q.setAnchor(ctx); err != nil {
		return nil, fmt.Errorf("queue stream %s: %w", cfg.Stream, err)
	}
	if err := q.recount(ctx); err != nil {
		return nil, fmt.Errorf("count stored messages: %w", err)
	}
	if q.released, err = openReleased(ctx, js, cfg.ReleaseGrace, cfg.Replicas); err != nil {
		return nil, err
	}
	if err := q.openClaims(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	if err := q.released.watch(wctx); err != nil {
		cancel()
		_ = q.asks.Unsubscribe()
		return nil, err
	}
	if err := q.listen(); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// conn picks a connection for the next hot-path request.
func (q *Queue) conn() *nats.Conn {
	return q.pool[int(q.next.Add(1))%len(q.pool)]
}

// Close stops listening. It does not close the NATS connection.
func (q *Queue) Close() {
	for _, s := range q.subs {
		_ = s.Unsubscribe()
	}
	if q.asks != nil {
		_ = q.asks.Unsubscribe()
	}
	q.cancel()
	q.released.stop()
	q.bg.Stop()
}

// Stats returns running totals.
func (q *Queue) Stats() Stats {
	sessions, msgs, held := q.usage.totals()
	return Stats{Pushed: q.npushed.Load(), Popped: q.npopped.Load(),
		PushedBytes: q.pushedBytes.Load(), PoppedBytes: q.poppedBytes.Load(), Waiting: q.waiters.n.Load(),
		Sessions: int64(sessions), HeldBytes: held, HeldMessages: msgs}
}

// Ready reports whether the queue stream answers.
func (q *Queue) Ready(ctx context.Context) error {
	_, err := q.stream.Info(ctx)
	return err
}

// Keys lists the queues of node that hold messages, with how many each
// holds.
func (q *Queue) Keys(ctx context.Context, node string) (map[Key]uint64, error) {
	if err := Check(Key{Node: node}, ""); err != nil {
		return nil, err
	}
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(headPrefix+token(node)+".>"))
	if err != nil {
		return nil, fmt.Errorf("list queues of %s: %w", node, err)
	}
	out := make(map[Key]uint64, len(info.State.Subjects))
	for s, n := range info.State.Subjects {
		if k, ok := keyOf(s); ok {
			out[k] = n
		}
	}
	return out, nil
}

// Leader names the NATS server that leads the queue stream now; empty when
// the stream is not replicated or has no leader.
func (q *Queue) Leader(ctx context.Context) string {
	info, err := q.stream.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}
