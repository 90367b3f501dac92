package queue

import (
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
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
// The data is "<origin> <N>"; a replica applies the counts of others' events
// only, having counted its own when it acted. Events are not durable: a
// replica that missed some (it was cut off) counts afresh when it restarts,
// and a session cap is therefore a soft limit across replicas.
const (
	notifyPrefix   = "mesh.notify."
	freedPrefix    = "mesh.freed."
	droppedPrefix  = "mesh.dropped."
	releasedPrefix = "mesh.released."
)

// tell sends an event about name (a queue or a session) to every replica.
func (q *Queue) tell(prefix, name string, n int64) {
	data := strconv.AppendInt(append([]byte(q.cfg.Origin), ' '), n, 10)
	_ = q.nc.Publish(prefix+name, data)
}

// tellFreed sends the freed event of a pop of seq from queue name, with
// the sequence in a header (replicas that predate it ignore it), so that
// every replica records the delete as certain (popdedup.go).
func (q *Queue) tellFreed(name string, n int64, seq uint64) {
	m := &nats.Msg{Subject: freedPrefix + name, Header: nats.Header{hdrSeq: {strconv.FormatUint(seq, 10)}},
		Data: strconv.AppendInt(append([]byte(q.cfg.Origin), ' '), n, 10)}
	_ = q.nc.PublishMsg(m)
}

// onEvent applies an event from any replica.
func (q *Queue) onEvent(m *nats.Msg) {
	origin, num, _ := strings.Cut(string(m.Data), " ")
	others := origin != q.cfg.Origin
	n, _ := strconv.ParseInt(num, 10, 64)
	switch {
	case strings.HasPrefix(m.Subject, notifyPrefix):
		name := m.Subject[len(notifyPrefix):]
		if others && n > 0 {
			q.usage.add(name, n)
		}
		q.waiters.wake(name)
	case strings.HasPrefix(m.Subject, freedPrefix):
		if seq, err := strconv.ParseUint(m.Header.Get(hdrSeq), 10, 64); err == nil && others {
			q.popped.add(seq)
		}
		if others && n > 0 {
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
