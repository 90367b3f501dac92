package network

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ppcmesh/mesh/host/internal/event"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// outbox parks pushes for partners that cannot be reached, on routes that
// enable it, and delivers them in order when the partner returns. Parked
// messages live in the node's own durable queues, under the partner's node
// id, so they survive a restart and count against the same byte caps.
//
// Every replica parks; one at a time, the holder of the outbox lease,
// delivers. Replicas tell each other what they park and what is left on
// core-NATS events (package event, from the replica's one origin), so that
// each knows whether a partner has messages waiting (and then parks behind
// them, keeping their order):
//
//	mesh.outbox.added.<node>  a replica parked one message for node (N = 1)
//	mesh.outbox.total.<node>  N messages are parked for node
//
// A replica skips its own events, having counted when it acted.
type outbox struct {
	n      *Network
	wake   chan struct{}
	nc     *nats.Conn
	sub    *nats.Subscription
	origin string // tells this replica's own announcements apart

	mu    sync.Mutex
	count map[string]int       // parked messages per partner
	next  map[string]time.Time // earliest next delivery round per partner
	pause map[string]time.Duration
}

func newOutbox(n *Network, nc *nats.Conn) *outbox {
	return &outbox{n: n, nc: nc, origin: n.cfg.Origin, wake: make(chan struct{}, 1), count: make(map[string]int),
		next: make(map[string]time.Time), pause: make(map[string]time.Duration)}
}

// listen follows the other replicas' events.
func (o *outbox) listen() error {
	sub, err := o.nc.Subscribe(natsnames.OutboxEvents, o.heard)
	if err != nil {
		return fmt.Errorf("outbox: subscribe to %s: %w", natsnames.OutboxEvents, err)
	}
	o.sub = sub
	return nil
}

// heard applies another replica's event; its own, and anything not an
// outbox event, it ignores.
func (o *outbox) heard(m *nats.Msg) {
	origin, n, ok := event.Decode(m.Data)
	if !ok || origin == o.origin {
		return
	}
	if node, ok := outboxNode(m.Subject, natsnames.OutboxAdded); ok {
		o.added(node)
	} else if node, ok := outboxNode(m.Subject, natsnames.OutboxTotal); ok && said(m.Data, origin, n) {
		o.total(node, n)
	}
}

// said reports whether data says the count n, as Encode writes it, rather
// than only reading as 0 (event.Decode's n for a missing count).
func said(data []byte, origin string, n int64) bool {
	return bytes.Equal(data, event.Encode(origin, n))
}

// outboxNode reads the partner node of an outbox event subject of kind
// prefix.
func outboxNode(subject, prefix string) (string, bool) {
	t, ok := strings.CutPrefix(subject, prefix)
	if !ok || t == "" || strings.Contains(t, ".") {
		return "", false
	}
	return natsnames.Untoken(t)
}

// added counts one message another replica parked for node.
func (o *outbox) added(node string) {
	o.mu.Lock()
	o.count[node]++
	o.dueSoonLocked(node)
	o.mu.Unlock()
	o.kick()
}

// total takes n, counted by another replica, as what is parked for node.
func (o *outbox) total(node string, n int64) {
	if n < 0 {
		return
	}
	o.mu.Lock()
	o.count[node] = int(n)
	o.mu.Unlock()
	o.kick()
}

// announce tells the other replicas an event of kind prefix about node.
func (o *outbox) announce(prefix, node string, n int) {
	if o.nc == nil {
		return
	}
	_ = o.nc.Publish(prefix+natsnames.Token(node), event.Encode(o.origin, int64(n)))
}

// load counts what is parked for each known partner, and tells the other
// replicas.
func (o *outbox) load(ctx context.Context) error {
	for _, e := range o.n.routes.list() {
		keys, err := o.n.queue.Keys(ctx, e.NodeID)
		if err != nil {
			return err
		}
		total := 0
		for _, c := range keys {
			total += int(c)
		}
		o.mu.Lock()
		o.count[e.NodeID] = total
		if total > 0 {
			o.dueSoonLocked(e.NodeID)
		}
		o.mu.Unlock()
		o.announce(natsnames.OutboxTotal, e.NodeID, total)
	}
	return nil
}

// holds reports whether messages for node are parked.
func (o *outbox) holds(node string) bool { return o.parked(node) > 0 }

// park stores d for node durably.
func (o *outbox) park(ctx context.Context, node string, d Delivery) error {
	k := queue.Key{Node: node, Session: d.Session, Topic: d.Topic}
	md := d.Metadata
	if d.Codec != "" { // the payload is encoded: remember with which codec
		md = make(map[string]string, len(d.Metadata)+1)
		maps.Copy(md, d.Metadata)
		md[ptp.HeaderCodec] = d.Codec
	}
	if _, err := o.n.queue.Push(ctx, k, queue.Message{ID: d.ID, Payload: d.Payload, Metadata: md}); err != nil {
		return err
	}
	o.n.parked.Add(1)
	o.mu.Lock()
	o.count[node]++
	o.dueSoonLocked(node)
	o.mu.Unlock()
	o.announce(natsnames.OutboxAdded, node, 1)
	o.kick()
	return nil
}

// parked is how many messages are parked for node.
func (o *outbox) parked(node string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[node]
}

// dueSoonLocked schedules a delivery round for node unless one is.
func (o *outbox) dueSoonLocked(node string) {
	if _, waiting := o.next[node]; !waiting {
		o.next[node] = time.Now().Add(100 * time.Millisecond)
	}
}

// waiting is how many messages are parked.
func (o *outbox) waiting() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := 0
	for _, c := range o.count {
		t += c
	}
	return t
}

// kick makes the delivery loop look again now.
func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run delivers parked messages, while this replica holds the outbox
// lease, until ctx ends.
func (o *outbox) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	lease := o.n.cfg.Lease
	for {
		if lease != nil && !lease.Held() {
			select {
			case <-ctx.Done():
				return
			case <-lease.Changed():
			}
			if lease.Held() {
				// Taken over: count afresh what is parked, by any replica.
				if err := o.load(ctx); err != nil {
					o.n.log.Warn("outbox: count parked messages", "err", err)
				}
			}
			continue
		}
		for _, node := range o.due() {
			o.drain(ctx, node)
		}
		timer.Reset(o.untilNext())
		var lost <-chan struct{}
		if lease != nil {
			lost = lease.Changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-timer.C:
		case <-lost:
		}
	}
}

// due lists the partners with parked messages whose round has come.
func (o *outbox) due() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	now := time.Now()
	for node, c := range o.count {
		if c > 0 && !o.next[node].After(now) {
			out = append(out, node)
		}
	}
	return out
}

func (o *outbox) untilNext() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := time.Hour
	for node, c := range o.count {
		if c > 0 {
			d = min(d, max(time.Until(o.next[node]), time.Millisecond))
		}
	}
	return d
}

// drain delivers node's parked messages, queue by queue, each in order. It
// stops at the first failure and backs off.
func (o *outbox) drain(ctx context.Context, node string) {
	ok := o.deliverAll(ctx, node)
	keys, err := o.n.queue.Keys(ctx, node)
	if err == nil {
		total := 0
		for _, c := range keys {
			total += int(c)
		}
		o.announce(natsnames.OutboxTotal, node, total)
		o.mu.Lock()
		o.count[node] = total
		o.mu.Unlock()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if ok {
		delete(o.pause, node)
		delete(o.next, node)
		return
	}
	p := min(max(2*o.pause[node], 100*time.Millisecond), o.n.cfg.OutboxRetry)
	o.pause[node], o.next[node] = p, time.Now().Add(jitter(p))
}

// deliverAll delivers what is parked for node; false means try again later.
func (o *outbox) deliverAll(ctx context.Context, node string) bool {
	e, ok := o.n.routes.get(node)
	if !ok || e.usable(time.Now()) != nil {
		return false
	}
	keys, err := o.n.queue.Keys(ctx, node)
	if err != nil {
		return false
	}
	for k := range keys {
		for {
			m, err := o.n.queue.Peek(ctx, k)
			if err != nil {
				return false
			}
			if m == nil {
				break
			}
			d := Delivery{Session: k.Session, Topic: k.Topic, ID: m.ID, Payload: m.Payload, Metadata: m.Metadata,
				Codec: m.Metadata[ptp.HeaderCodec]}
			err = o.n.deliver(ctx, e, d, 0)
			if err != nil && retryable(err) {
				return false
			}
			if err != nil {
				// The partner refuses it for good (say, its session was
				// released): keeping it would block the queue for ever.
				o.n.log.Error("outbox: partner refused a parked message; dropped", "node", node, "id", m.ID, "err", err)
			}
			if err := o.n.queue.Remove(ctx, k, m.ID); err != nil {
				return false
			}
		}
	}
	return true
}

// stop stops following the events.
func (o *outbox) stop() {
	if o.sub != nil {
		_ = o.sub.Unsubscribe()
	}
}
