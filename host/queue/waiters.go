package queue

import (
	"strings"
	"sync"
	"sync/atomic"
)

// waiters wakes blocked pops. Every push publishes a core-NATS notification;
// one subscription per process feeds them here, so a pop blocked on any
// replica wakes when any replica stores a message for its queue.
type waiters struct {
	n  atomic.Int64 // pops waiting now
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{} // queue → waiting pops
}

func newWaiters() *waiters {
	return &waiters{m: make(map[string]map[chan struct{}]struct{})}
}

// add registers interest in queue q. Register before looking at the queue, so
// that a push landing in between is not missed.
func (w *waiters) add(q string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	set := w.m[q]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		w.m[q] = set
	}
	set[ch] = struct{}{}
	w.mu.Unlock()
	w.n.Add(1)
	return ch
}

func (w *waiters) remove(q string, ch chan struct{}) {
	w.n.Add(-1)
	w.mu.Lock()
	if set := w.m[q]; set != nil {
		delete(set, ch)
		if len(set) == 0 {
			delete(w.m, q)
		}
	}
	w.mu.Unlock()
}

// wake signals every pop waiting on queue q.
func (w *waiters) wake(q string) {
	w.mu.Lock()
	for ch := range w.m[q] {
		signal(ch)
	}
	w.mu.Unlock()
}

// wakeSession signals every pop waiting on any topic of a session.
func (w *waiters) wakeSession(session string) {
	prefix := session + "."
	w.mu.Lock()
	for q, set := range w.m {
		if strings.HasPrefix(q, prefix) {
			for ch := range set {
				signal(ch)
			}
		}
	}
	w.mu.Unlock()
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
