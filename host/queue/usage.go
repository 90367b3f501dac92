package queue

import (
	"context"
	"strings"
	"sync"
	"time"
)

// usage counts the bytes each session (and each of its queues) holds, so that
// one session cannot take the whole store. A push waits for room, then fails.
type usage struct {
	limit    int64
	mu       sync.Mutex
	sessions map[string]hold  // session key → what it holds; present while it holds a message or a byte
	queues   map[string]int64 // queue key → bytes
	counts   map[string]int64 // queue key → messages
	msgs     int64            // messages of every queue
	bytes    int64            // bytes of every queue
	freed    chan struct{}    // closed and replaced whenever bytes are freed
}

func newUsage(limit int64) *usage {
	return &usage{limit: limit, sessions: make(map[string]hold),
		queues: make(map[string]int64), counts: make(map[string]int64), freed: make(chan struct{})}
}

// hold is what a session holds: bytes (its cap counts them) and messages
// (a zero-byte message is held too).
type hold struct{ bytes, msgs int64 }

// addLocked counts one message of n bytes in queue q of session s.
func (u *usage) addLocked(s, q string, n int64) {
	h := u.sessions[s]
	u.sessions[s] = hold{h.bytes + n, h.msgs + 1}
	u.queues[q] += n
	u.counts[q]++
	u.msgs++
	u.bytes += n
}

// reserve takes n bytes for queue k, waiting until ctx ends for room.
func (u *usage) reserve(ctx context.Context, k Key, n int64) bool {
	s := k.nodeSession()
	for {
		u.mu.Lock()
		if cur := u.sessions[s].bytes; cur == 0 || cur+n <= u.limit {
			u.addLocked(s, k.queueName(), n)
			u.mu.Unlock()
			return true
		}
		freed := u.freed
		u.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		}
	}
}

// add counts n bytes already stored in queue q ("<node>.<session>.<topic>").
func (u *usage) add(q string, n int64) {
	u.mu.Lock()
	u.addLocked(sessionOf(q), q, n)
	u.mu.Unlock()
}

// totals is the number of sessions holding messages, and the messages and
// bytes they hold.
func (u *usage) totals() (sessions int, msgs, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.sessions), u.msgs, u.bytes
}

// sessionOf is the session part of queue q: "<node>.<session>".
func sessionOf(q string) string {
	if i := strings.IndexByte(q, '.'); i >= 0 {
		if j := strings.IndexByte(q[i+1:], '.'); j >= 0 {
			return q[:i+1+j]
		}
	}
	return q
}

// held is the number of bytes session s holds.
func (u *usage) held(s string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sessions[s].bytes
}

// free gives back one message of n bytes of queue q.
func (u *usage) free(q string, n int64) {
	u.mu.Lock()
	u.sub(sessionOf(q), q, n, 1)
	u.wakeLocked()
	u.mu.Unlock()
}

// dropQueue forgets queue q.
func (u *usage) dropQueue(q string) {
	u.mu.Lock()
	u.sub(sessionOf(q), q, u.queues[q], u.counts[q])
	u.wakeLocked()
	u.mu.Unlock()
}

// dropSession forgets session s ("<node>.<session>") and all its queues.
func (u *usage) dropSession(s string) {
	u.mu.Lock()
	delete(u.sessions, s)
	for q, n := range u.queues {
		if strings.HasPrefix(q, s+".") {
			u.bytes -= n
			delete(u.queues, q)
		}
	}
	for q, n := range u.counts {
		if strings.HasPrefix(q, s+".") {
			u.msgs -= n
			delete(u.counts, q)
		}
	}
	u.wakeLocked()
	u.mu.Unlock()
}

// sub takes msgs messages of n bytes from queue q of session s.
func (u *usage) sub(s, q string, n, msgs int64) {
	u.bytes -= min(n, u.queues[q])
	u.msgs -= min(msgs, u.counts[q])
	if cur := u.counts[q] - msgs; cur > 0 {
		u.counts[q] = cur
	} else {
		delete(u.counts, q)
	}
	if h := (hold{u.sessions[s].bytes - n, u.sessions[s].msgs - msgs}); h.msgs > 0 || h.bytes > 0 {
		u.sessions[s] = hold{max(h.bytes, 0), max(h.msgs, 0)}
	} else {
		delete(u.sessions, s) // present while it holds a message, zero-byte ones included
	}
	if cur := u.queues[q] - n; cur > 0 {
		u.queues[q] = cur
	} else {
		delete(u.queues, q)
	}
}

func (u *usage) wakeLocked() {
	close(u.freed)
	u.freed = make(chan struct{})
}

// waitFreed waits until some bytes are freed anywhere, or d passes.
func (u *usage) waitFreed(ctx context.Context, d time.Duration) {
	u.mu.Lock()
	freed := u.freed
	u.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-freed:
	case <-t.C:
	case <-ctx.Done():
	}
}
