package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/ptp"
)

// errDamaged marks a stored message that cannot be put together again.
var errDamaged = errors.New("damaged message")

// pollFull is how often a push waiting for room looks again, for room freed
// by other replicas (room freed here wakes it at once).
const pollFull = 100 * time.Millisecond

// Pop removes and returns the head of queue k, waiting up to wait for one to
// arrive. It returns nil, nil when none arrived in time.
func (q *Queue) Pop(ctx context.Context, k Key, wait time.Duration) (*Message, error) {
	if err := Check(k, ""); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	name := k.queueName()
	for {
		woken := q.waiters.add(name)
		m, err := q.popHead(ctx, k, "")
		if m != nil || err != nil {
			q.waiters.remove(name, woken)
			return m, err
		}
		select {
		case <-woken:
		case <-deadline.C:
			q.waiters.remove(name, woken)
			return nil, nil
		case <-ctx.Done():
			q.waiters.remove(name, woken)
			return nil, ctx.Err()
		}
		q.waiters.remove(name, woken)
	}
}

// Peek returns the head of queue k without removing it, or nil when the queue
// is empty. It never waits.
func (q *Queue) Peek(ctx context.Context, k Key) (*Message, error) {
	if err := Check(k, ""); err != nil {
		return nil, err
	}
	return q.peekHead(ctx, k)
}

// Remove deletes message id if it is the head of queue k; a message gone
// already is no error. The outbox removes what it has delivered with it.
func (q *Queue) Remove(ctx context.Context, k Key, id string) error {
	if err := Check(k, id); err != nil {
		return err
	}
	_, err := q.popHead(ctx, k, id)
	return err
}

// head is a stored head read and put together with its chunks.
type head struct {
	raw  *jetstream.RawStreamMsg
	msg  *Message
	size int64
}

// peekHead returns the head of queue k, or nil when the queue is empty,
// leaving it queued.
func (q *Queue) peekHead(ctx context.Context, k Key) (*Message, error) {
	var broken uint64
	h, err := q.readHead(ctx, k, "", &broken)
	if h == nil {
		return nil, err
	}
	return h.msg, nil
}

// popHead deletes the head of queue k and returns it; nil, nil when the
// queue is empty. When id is set, only message id is taken: another head
// answers nil, nil. A delete that finds the message gone lost a race with
// another pop (settle, popdedup.go, decided so): look again.
func (q *Queue) popHead(ctx context.Context, k Key, id string) (*Message, error) {
	var broken uint64
	for {
		h, err := q.readHead(ctx, k, id, &broken)
		if h == nil {
			return nil, err
		}
		if err := q.take(ctx, k, h); err != nil {
			if errors.Is(err, errGone) {
				continue
			}
			return nil, fmt.Errorf("remove from queue: %w", err)
		}
		return h.msg, nil
	}
}

// takeTimeout bounds taking a head once it is read (see take).
const takeTimeout = 10 * time.Second

// take deletes the head h of queue k and frees what it held. It is not
// abandoned when ctx ends: a stopping node cancels the pops in flight (its
// drain), and a delete the store applied but whose answer was cut short
// would lose the message; the pop returns it instead. A pop whose ctx ended
// before the delete began takes nothing: its caller has left (or the node
// is stopping), and the message stays for the next pop.
func (q *Queue) take(ctx context.Context, k Key, h *head) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), takeTimeout)
	defer cancel()
	if err := q.deleteMsg(ctx, h.raw.Sequence); err != nil {
		return err
	}
	q.freeHead(ctx, k, h)
	return nil
}

// freeHead frees what the head h of queue k held once it was deleted: its
// bytes, announced to the other replicas, and its chunks.
func (q *Queue) freeHead(ctx context.Context, k Key, h *head) {
	q.usage.free(k.queueName(), h.size)
	q.tellFreed(k.queueName(), h.size, h.raw.Sequence)
	if h.raw.Header.Get(hdrChunks) != "0" {
		_ = q.stream.Purge(ctx, jetstream.WithPurgeSubject(k.chunkSubjects(h.msg.ID)))
	}
	q.npopped.Add(1)
	q.poppedBytes.Add(h.size)
}

// readHead reads the head of queue k and puts it together; nil, nil when the
// queue is empty or, with id set, when the head is another message. broken
// remembers, across the reads of one operation, a head whose chunks were
// missing once: missing again, it is dropped as damaged.
func (q *Queue) readHead(ctx context.Context, k Key, id string, broken *uint64) (*head, error) {
	for {
		if q.released.has(k.nodeSession()) {
			return nil, ptp.Errorf(ptp.SessionReleased, "session %q was released", k.Session)
		}
		raw, err := q.firstMsg(ctx, k.headSubject())
		if errors.Is(err, errGone) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read queue: %w", err)
		}
		if id != "" && raw.Header.Get(hdrID) != id {
			return nil, nil
		}
		m, size, err := q.assemble(ctx, k, raw)
		switch {
		case err == nil:
			return &head{raw: raw, msg: m, size: size}, nil
		case errors.Is(err, errGone) && raw.Sequence != *broken:
			*broken = raw.Sequence // popped meanwhile, or truly broken: look again
		case errors.Is(err, errGone) || errors.Is(err, errDamaged):
			// Dropped so that it does not block its queue for ever.
			_ = q.deleteMsg(ctx, raw.Sequence)
			return nil, ptp.Errorf(ptp.SystemError, "message %s in %s is damaged and was dropped: %v", m.ID, k.Topic, err)
		default: // a passing fault: the message stays queued
			return nil, fmt.Errorf("read message: %w", err)
		}
	}
}

// assemble turns a stored head, and its chunks if any, into a Message.
func (q *Queue) assemble(ctx context.Context, k Key, raw *jetstream.RawStreamMsg) (*Message, int64, error) {
	m := &Message{ID: raw.Header.Get(hdrID), Stored: raw.Time}
	size, err1 := strconv.ParseInt(raw.Header.Get(hdrSize), 10, 64)
	chunks, err2 := strconv.Atoi(raw.Header.Get(hdrChunks))
	if err1 != nil || err2 != nil || size < int64(len(raw.Data)) || chunks < 0 {
		return m, 0, fmt.Errorf("%w: bad head headers %v", errDamaged, raw.Header)
	}
	if meta := raw.Header.Get(hdrMeta); meta != "" {
		if err := json.Unmarshal([]byte(meta), &m.Metadata); err != nil {
			return m, 0, fmt.Errorf("%w: bad metadata: %v", errDamaged, err)
		}
	}
	if chunks == 0 {
		m.Payload = raw.Data
		return m, size, nil
	}
	m.Payload = make([]byte, 0, size)
	m.Payload = append(m.Payload, raw.Data...)
	for i := 1; i <= chunks; i++ {
		c, err := q.lastMsg(ctx, k.chunkSubject(m.ID, i))
		if err != nil {
			return m, 0, err
		}
		if int64(len(m.Payload)+len(c.Data)) > size {
			return m, 0, fmt.Errorf("%w: chunks longer than %d bytes", errDamaged, size)
		}
		m.Payload = append(m.Payload, c.Data...)
	}
	if int64(len(m.Payload)) != size {
		return m, 0, fmt.Errorf("%w: chunks hold %d of %d bytes", errDamaged, len(m.Payload), size)
	}
	return m, size, nil
}

// Release drops queue k when k.Topic is set; otherwise it drops every queue
// of the session and refuses its pushes and pops for the grace period.
func (q *Queue) Release(ctx context.Context, k Key) error {
	if err := Check(k, ""); err != nil {
		return err
	}
	if k.Topic != "" {
		if err := q.purge(ctx, k.headSubject(), chunkPrefix+k.queueName()+".>"); err != nil {
			return err
		}
		q.usage.dropQueue(k.queueName())
		q.tell(droppedPrefix, k.queueName(), 0)
		return nil
	}
	s := k.nodeSession()
	if err := q.released.mark(ctx, s); err != nil {
		return err
	}
	if err := q.purge(ctx, headPrefix+s+".>", chunkPrefix+s+".>"); err != nil {
		return err
	}
	q.usage.dropSession(s)
	q.tell(releasedPrefix, s, 0)
	return nil
}

func (q *Queue) purge(ctx context.Context, subjects ...string) error {
	for _, s := range subjects {
		if err := q.stream.Purge(ctx, jetstream.WithPurgeSubject(s)); err != nil {
			return fmt.Errorf("purge %s: %w", s, err)
		}
	}
	return nil
}
