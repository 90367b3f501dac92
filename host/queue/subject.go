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

// token escapes s into one NATS subject token that is also a valid KV key
// part: [A-Za-z0-9_-] stay, every other byte becomes =XX; the empty string
// becomes a lone "=".
func token(s string) string {
	if s == "" {
		return "="
	}
	clean := true
	for i := 0; i < len(s) && clean; i++ {
		clean = plain(s[i])
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// session is "<node>.<session>", the part of every subject naming a session.
func (k Key) session() string { return token(k.Node) + "." + token(k.Session) }

// queue is "<node>.<session>.<topic>".
func (k Key) queue() string { return k.session() + "." + token(k.Topic) }

func (k Key) headSubject() string            { return headPrefix + k.queue() }
func (k Key) chunkSubjects(id string) string { return chunkPrefix + k.queue() + "." + token(id) + ".>" }
func (k Key) chunkSubject(id string, i int) string {
	return chunkPrefix + k.queue() + "." + token(id) + "." + strconv.Itoa(i)
}

// untoken reverses token.
func untoken(t string) (string, bool) {
	if t == "=" {
		return "", true
	}
	if !strings.Contains(t, "=") {
		return t, true
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != '=' {
			b.WriteByte(t[i])
			continue
		}
		if i+2 >= len(t) {
			return "", false
		}
		v, err := strconv.ParseUint(t[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

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
