package queue

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/ppcmesh/mesh/host/internal/event"
	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// Replicas tell each other what they did to the queues with core-NATS
// events, so that a pop blocked on any replica wakes when any replica
// stores a message for it, and every replica's byte counts (the session
// caps) follow the pushes and pops of all:
//
//	mesh.notify.<queue>     a message of N bytes was pushed
//	mesh.freed.<queue>      a message of N bytes was popped (header Mesh-Seq: its sequence)
//	mesh.dropped.<queue>    the queue was released
//	mesh.released.<session> the session was released
//
// The data is "<origin> <N>" (package event); a replica applies the counts of others' events
// only, having counted its own when it acted. Events are not durable: a
// replica that missed some (it was cut off) counts afresh when it restarts,
// and a session cap is therefore a soft limit across replicas.
const (
	notifyPrefix   = natsnames.Notify
	freedPrefix    = natsnames.Freed
	droppedPrefix  = natsnames.Dropped
	releasedPrefix = natsnames.Released
)

// tell sends an event about name (a queue or a session) to every replica.
func (q *Queue) tell(prefix, name string, n int64) {
	_ = q.nc.Publish(prefix+name, event.Encode(q.cfg.Origin, n))
}

// tellFreed sends the freed event of a pop of seq from queue name, with
// the sequence in a header (replicas that predate it ignore it), so that
// every replica records the delete as certain (popdedup.go).
func (q *Queue) tellFreed(name string, n int64, seq uint64) {
	m := &nats.Msg{Subject: freedPrefix + name, Header: nats.Header{hdrSeq: {strconv.FormatUint(seq, 10)}},
		Data: event.Encode(q.cfg.Origin, n)}
	_ = q.nc.PublishMsg(m)
}

// eventBuffer is how many events may wait for onEvent; past it NATS drops
// them as a slow consumer's (events are not durable anyway, see above).
const eventBuffer = 1 << 16

// listen subscribes to exactly the events onEvent handles. They arrive on
// one channel, applied by one goroutine in the order they came, as one
// subscription would; Close stops it.
func (q *Queue) listen() error {
	ch := make(chan *nats.Msg, eventBuffer)
	for _, subject := range natsnames.QueueEvents() {
		s, err := q.nc.ChanSubscribe(subject, ch)
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", subject, err)
		}
		q.subs = append(q.subs, s)
	}
	q.bg.Go(func(ctx context.Context) { q.follow(ctx, ch) })
	return nil
}

// follow applies the events of ch until ctx ends.
func (q *Queue) follow(ctx context.Context, ch <-chan *nats.Msg) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-ch:
			q.onEvent(m)
		}
	}
}

// onEvent applies an event from any replica.
func (q *Queue) onEvent(m *nats.Msg) {
	origin, n, ok := event.Decode(m.Data)
	if !ok {
		return // not an event
	}
	others := origin != q.cfg.Origin
	switch {
	case strings.HasPrefix(m.Subject, notifyPrefix):
		name := m.Subject[len(notifyPrefix):]
		if others && n >= 0 { // n == 0 too: a zero-byte message is held
			q.usage.add(name, n)
		}
		q.waiters.wake(name)
	case strings.HasPrefix(m.Subject, freedPrefix):
		if seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64); err == nil && others {
			q.popped.add(seq)
		}
		if others && n >= 0 {
			q.usage.free(m.Subject[len(freedPrefix):], n)
		}
	case strings.HasPrefix(m.Subject, droppedPrefix):
		if others {
			q.usage.dropQueue(m.Subject[len(droppedPrefix):])
		}
	case strings.HasPrefix(m.Subject, releasedPrefix):
		name := m.Subject[len(releasedPrefix):]
		if others {
			q.usage.dropSession(name)
		}
		q.waiters.wakeSession(name)
	}
}
