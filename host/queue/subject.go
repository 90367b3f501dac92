package queue

import (
	"strconv"
	"strings"

	"github.com/ppcmesh/mesh/host/internal/natsnames"
)

// Subjects of the session queues. One JetStream stream holds them all:
//
//	ptp.q.<node>.<session>.<topic>               head of each message, FIFO per subject
//	ptp.c.<node>.<session>.<topic>.<id>.<i>      further chunks of a large message
//
// and core-NATS events (events.go) keep the replicas in step.
const (
	headPrefix  = natsnames.QueueHead
	chunkPrefix = natsnames.QueueChunk
)

// Key names one queue: FIFO holds per key.
type Key struct {
	Node    string // target node (this node, for messages to pop here)
	Session string
	Topic   string
}

// token escapes s into one subject token (natsnames.Token: the one
// escaping of every Mesh subject).
func token(s string) string { return natsnames.Token(s) }

// plain reports whether token keeps c as it is.
func plain(c byte) bool { return natsnames.Plain(c) }

// nodeSession is "<node>.<session>", the part of every subject naming a session.
func (k Key) nodeSession() string { return token(k.Node) + "." + token(k.Session) }

// queueName is "<node>.<session>.<topic>", the part of every subject naming one queue.
func (k Key) queueName() string { return k.nodeSession() + "." + token(k.Topic) }

func (k Key) headSubject() string { return headPrefix + k.queueName() }
func (k Key) chunkSubjects(id string) string {
	return chunkPrefix + k.queueName() + "." + token(id) + ".>"
}
func (k Key) chunkSubject(id string, i int) string {
	return chunkPrefix + k.queueName() + "." + token(id) + "." + strconv.Itoa(i)
}

// untoken reverses token.
func untoken(t string) (string, bool) { return natsnames.Untoken(t) }

// keyOf reads the key of a head subject.
func keyOf(subject string) (Key, bool) {
	parts := strings.Split(strings.TrimPrefix(subject, headPrefix), ".")
	if len(parts) != 3 {
		return Key{}, false
	}
	var k Key
	var ok1, ok2, ok3 bool
	k.Node, ok1 = untoken(parts[0])
	k.Session, ok2 = untoken(parts[1])
	k.Topic, ok3 = untoken(parts[2])
	return k, ok1 && ok2 && ok3
}
