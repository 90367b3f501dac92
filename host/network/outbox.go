package network

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// outbox parks pushes for partners that cannot be reached, on routes that
// enable it, and delivers them in order when the partner returns. Parked
// messages live in the node's own durable queues, under the partner's node
// id, so they survive a restart and count against the same byte caps.
type outbox struct {
	n    *Network
	wake chan struct{}

	mu    sync.Mutex
	count map[string]int       // parked messages per partner
	next  map[string]time.Time // earliest next delivery round per partner
	pause map[string]time.Duration
}

func newOutbox(n *Network) *outbox {
	return &outbox{n: n, wake: make(chan struct{}, 1), count: make(map[string]int),
		next: make(map[string]time.Time), pause: make(map[string]time.Duration)}
}

// load counts what is parked for each known partner.
func (o *outbox) load(ctx context.Context) error {
	for _, e := range o.n.routes.list() {
		keys, err := o.n.queue.Keys(ctx, e.NodeID)
		if err != nil {
			return err
		}
		o.mu.Lock()
		for _, c := range keys {
			o.count[e.NodeID] += int(c)
		}
		o.mu.Unlock()
	}
	return nil
}

// holds reports whether messages for node are parked.
func (o *outbox) holds(node string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[node] > 0
}

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
	if _, waiting := o.next[node]; !waiting {
		o.next[node] = time.Now().Add(100 * time.Millisecond)
	}
	o.mu.Unlock()
	o.kick()
	return nil
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

// run delivers parked messages until ctx ends.
func (o *outbox) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		for _, node := range o.due() {
			o.drain(ctx, node)
		}
		timer.Reset(o.untilNext())
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-timer.C:
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
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		total := 0
		for _, c := range keys {
			total += int(c)
		}
		o.count[node] = total
	}
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
