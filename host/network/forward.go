package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// Delivery is one message for a partner's queue.
type Delivery struct {
	Session  string
	Topic    string
	ID       string // message id; the partner de-duplicates retries on it
	Payload  []byte
	Metadata map[string]string
	Codec    string // codec plugin: on a push, overrides the route's ("none" for none); once encoded, the one used
}

// Receipt says what became of a forwarded push.
type Receipt struct {
	Node   string // the partner
	ID     string // the message id
	Queued bool   // parked in the outbox, to be delivered when the partner returns
}

// streamed is the largest payload sent on a transport stream; larger ones
// go by invoke, so that they never hold up small messages behind them.
const streamed = 256 << 10

// resolve finds the partner a push names, by node id or else institution.
// ok is false when the target is not a partner at all.
func (n *Network) resolve(nodeID, instID string) (*entry, bool) {
	if nodeID != "" {
		return n.routes.get(nodeID)
	}
	return n.routes.byInst(instID)
}

// Forward delivers d to the partner named by nodeID (or instID) and returns
// once the partner has stored it durably — or, for a route with an outbox,
// once it is parked here.
func (n *Network) Forward(ctx context.Context, nodeID, instID string, d Delivery) (Receipt, error) {
	e, ok := n.resolve(nodeID, instID)
	if !ok {
		return Receipt{}, ptp.Errorf(ptp.NotWoven, "target node %q (inst %q) is not this node (%q) and is not woven with it",
			nodeID, instID, n.ident.NodeID())
	}
	if err := e.usable(time.Now()); err != nil {
		return Receipt{}, err
	}
	// What the partner could not store is refused here, not sent.
	if err := queue.Check(queue.Key{Node: e.NodeID, Session: d.Session, Topic: d.Topic}, d.ID); err != nil {
		return Receipt{}, err
	}
	if int64(len(d.Payload)) > n.cfg.MaxMessage {
		return Receipt{}, ptp.Errorf(ptp.TooLarge, "message of %d bytes exceeds the limit of %d bytes", len(d.Payload), n.cfg.MaxMessage)
	}
	d, err := n.encode(ctx, e, d)
	if err != nil {
		return Receipt{}, err
	}
	if d.ID == "" {
		d.ID = newID()
	}
	rc := Receipt{Node: e.NodeID, ID: d.ID}
	if e.Outbox && n.outbox.holds(e.NodeID) {
		// Messages are parked already: join them, to keep their order.
		rc.Queued = true
		return rc, n.outbox.park(ctx, e.NodeID, d)
	}
	budget := n.cfg.RetryFor
	if e.Outbox {
		budget = min(budget, 2*time.Second)
	}
	err = n.deliver(ctx, e, d, budget)
	if err != nil && e.Outbox && retryable(err) && ctx.Err() == nil {
		n.log.Info("partner unreachable: message parked in the outbox", "node", e.NodeID, "id", d.ID, "err", err)
		rc.Queued = true
		return rc, n.outbox.park(ctx, e.NodeID, d)
	}
	return rc, err
}

// encode runs d's payload through the codec chosen for it: the push's own
// choice, else the route's. The codec's name travels with the payload.
func (n *Network) encode(ctx context.Context, e *entry, d Delivery) (Delivery, error) {
	if d.Codec == "" {
		d.Codec = e.Codec
	}
	if d.Codec == "" || d.Codec == "none" {
		d.Codec = ""
		return d, nil
	}
	if n.cfg.Codecs == nil {
		return d, ptp.Errorf(ptp.CodecError, "codec %q asked for, but this node runs no plugins", d.Codec)
	}
	p, err := n.cfg.Codecs.Encode(ctx, d.Codec, d.Payload)
	if err != nil {
		return d, err
	}
	if int64(len(p)) > n.cfg.MaxMessage {
		return d, ptp.Errorf(ptp.TooLarge, "message encoded by %s is %d bytes, over the limit of %d bytes", d.Codec, len(p), n.cfg.MaxMessage)
	}
	d.Payload = p
	return d, nil
}

// deliver tries d until it is stored, a refusal is final, or budget passes.
func (n *Network) deliver(ctx context.Context, e *entry, d Delivery, budget time.Duration) (err error) {
	ctx, sp := n.startForward(ctx, e, d)
	tried := 0
	defer func() { endForward(sp, tried, err) }()
	deadline := time.Now().Add(budget)
	backoff := 50 * time.Millisecond
	pc := n.partners.of(e.NodeID)
	for attempt := 1; ; attempt++ {
		tried = attempt
		err := n.attempt(ctx, e, d)
		pc.reached(err)
		if err == nil {
			n.forwarded.Add(1)
			n.forwardedBytes.Add(int64(len(d.Payload)))
			pc.forwarded.Add(1)
			pc.forwardedBytes.Add(int64(len(d.Payload)))
		}
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return n.final(e, err, attempt)
		}
		if time.Now().Add(backoff).After(deadline) {
			return &ptp.Error{Code: ptp.NetworkUnreachable, Err: err,
				Msg: fmt.Sprintf("partner %s at %s unreachable after %d attempts: %v", e.NodeID, e.Address, attempt, err)}
		}
		select {
		case <-time.After(jitter(backoff)):
		case <-ctx.Done():
			return n.final(e, ctx.Err(), attempt)
		}
		backoff = min(2*backoff, 2*time.Second)
		n.retries.Add(1)
		pc.retries.Add(1)
		if fresh, ok := n.routes.get(e.NodeID); ok {
			if err := fresh.usable(time.Now()); err != nil {
				return err
			}
			e = fresh // the route may have been updated meanwhile
		}
	}
}

// attempt makes one delivery of d to partner e, in the form of e's
// dialect.
func (n *Network) attempt(ctx context.Context, e *entry, d Delivery) error {
	l, err := n.links.get(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.AttemptTimeout)
	defer cancel()
	f, md := formOf(e.Dialect), n.headers(e, d)
	if !l.addr.GRPC {
		traceHeaders(ctx, d, md, viaHTTP)
		return l.invokeHTTPAs(ctx, f, md, d)
	}
	streams := f.streams && len(d.Payload) <= streamed
	traceHeaders(ctx, d, md, via(streams))
	in, err := f.grpcInbound(md, d)
	if err != nil {
		return err
	}
	if streams {
		return l.streams[pick(d, len(l.streams))].send(ctx, in)
	}
	return l.invokeAs(ctx, f, in)
}

// final words the outcome of the last attempt for the caller.
func (n *Network) final(e *entry, err error, attempt int) error {
	var pe *ptp.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return err // the partner's answer, or a route problem: both say whose
	case errors.Is(err, context.DeadlineExceeded):
		return ptp.Errorf(ptp.Timeout, "partner %s did not answer in time (attempt %d)", e.NodeID, attempt)
	case errors.Is(err, context.Canceled):
		return ptp.Errorf(ptp.Timeout, "push to partner %s cancelled (attempt %d)", e.NodeID, attempt)
	}
	return &ptp.Error{Code: ptp.NetworkUnreachable, Err: err, Msg: fmt.Sprintf("partner %s at %s: %v", e.NodeID, e.Address, err)}
}

// headers are the PTP headers of push d to partner e common to every
// dialect (x-ptp-uri, the topic header and the form marker are the
// dialect's). The message's own metadata rides along under its own keys.
func (n *Network) headers(e *entry, d Delivery) map[string]string {
	id := n.ident.Current()
	md := make(map[string]string, len(d.Metadata)+10)
	for k, v := range d.Metadata {
		if !ptp.Reserved(k) {
			md[k] = v
		}
	}
	md[ptp.HeaderVersion] = ptp.Version
	md[ptp.HeaderSessionID] = d.Session
	md[ptp.HeaderSourceNodeID] = id.NodeID
	md[ptp.HeaderTargetNodeID] = e.NodeID
	md[ptp.HeaderMessageID] = d.ID
	if id.InstID != "" {
		md[ptp.HeaderSourceInstID] = id.InstID
	}
	if e.InstID != "" {
		md[ptp.HeaderTargetInstID] = e.InstID
	}
	if d.Codec != "" {
		md[ptp.HeaderCodec] = d.Codec
	}
	return md
}

// pick chooses the stream of d's queue, so one queue's pushes keep one path.
func pick(d Delivery, n int) int {
	h := fnv.New32a()
	h.Write([]byte(d.Session))
	h.Write([]byte{0})
	h.Write([]byte(d.Topic))
	return int(h.Sum32() % uint32(n))
}

func jitter(d time.Duration) time.Duration {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return d/2 + d*time.Duration(b[0])/512
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
