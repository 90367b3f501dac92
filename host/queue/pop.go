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
	name := k.queue()
	for {
		woken := q.waiters.add(name)
		m, err := q.take(ctx, k, true, "")
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
	return q.take(ctx, k, false, "")
}

// Remove deletes message id if it is the head of queue k; a message gone
// already is no error. The outbox removes what it has delivered with it.
func (q *Queue) Remove(ctx context.Context, k Key, id string) error {
	if err := Check(k, id); err != nil {
		return err
	}
	_, err := q.take(ctx, k, true, id)
	return err
}

// take reads the head of queue k and, when remove is set, deletes it. A
// delete that finds the message gone lost a race with another pop: look again.
// When want is set, only message want is taken.
func (q *Queue) take(ctx context.Context, k Key, remove bool, want string) (*Message, error) {
	var broken uint64 // a head whose chunks were missing once
	for {
		if q.released.has(k.session()) {
			return nil, ptp.Errorf(ptp.SessionReleased, "session %q was released", k.Session)
		}
		raw, err := q.firstMsg(ctx, k.headSubject())
		if errors.Is(err, errGone) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read queue: %w", err)
		}
		if want != "" && raw.Header.Get(hdrID) != want {
			return nil, nil
		}
		m, size, err := q.assemble(ctx, k, raw)
		switch {
		case err == nil:
		case errors.Is(err, errGone) && raw.Sequence != broken:
			broken = raw.Sequence // popped meanwhile, or truly broken: look again
			continue
		case errors.Is(err, errGone) || errors.Is(err, errDamaged):
			// Dropped so that it does not block its queue for ever.
			_ = q.deleteMsg(ctx, raw.Sequence)
			return nil, ptp.Errorf(ptp.SystemError, "message %s in %s is damaged and was dropped: %v", m.ID, k.Topic, err)
		default: // a passing fault: the message stays queued
			return nil, fmt.Errorf("read message: %w", err)
		}
		if !remove {
			return m, nil
		}
		if err := q.deleteMsg(ctx, raw.Sequence); err != nil {
			if errors.Is(err, errGone) {
				continue
			}
			return nil, fmt.Errorf("remove from queue: %w", err)
		}
		q.usage.free(k.queue(), size)
		q.tellFreed(k.queue(), size, raw.Sequence)
		if raw.Header.Get(hdrChunks) != "0" {
			_ = q.stream.Purge(ctx, jetstream.WithPurgeSubject(k.chunkSubjects(m.ID)))
		}
		q.npopped.Add(1)
		q.poppedBytes.Add(size)
		return m, nil
	}
}

// assemble turns a stored head, and its chunks if any, into a Message.
func (q *Queue) assemble(ctx context.Context, k Key, raw *jetstream.RawStreamMsg) (*Message, int64, error) {
	m := &Message{ID: raw.Header.Get(hdrID)}
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
		if err := q.purge(ctx, k.headSubject(), chunkPrefix+k.queue()+".>"); err != nil {
			return err
		}
		q.usage.dropQueue(k.queue())
		q.tell(droppedPrefix, k.queue(), 0)
		return nil
	}
	s := k.session()
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
