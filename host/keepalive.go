package host

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// keepAlives follows the HTTP server's connections so that a handoff (see
// Host.HandOff) can close HTTP/1 keep-alive connections after a request
// rather than under a client about to send one.
type keepAlives struct {
	handingOff atomic.Bool
	mu         sync.Mutex
	conns      map[net.Conn]*connMark
}

// connMark is what keepAlives knows of one connection.
type connMark struct {
	http1 atomic.Bool  // it carried an HTTP/1 request
	state atomic.Int32 // its http.ConnState
}

// connMarkKey is the context key of a connection's *connMark.
type connMarkKey struct{}

// connContext registers c (http.Server.ConnContext), chained after next.
func (k *keepAlives) connContext(next func(context.Context, net.Conn) context.Context) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		if next != nil {
			ctx = next(ctx, c)
		}
		m := new(connMark)
		k.mu.Lock()
		if k.conns == nil {
			k.conns = map[net.Conn]*connMark{}
		}
		k.conns[c] = m
		k.mu.Unlock()
		return context.WithValue(ctx, connMarkKey{}, m)
	}
}

// track follows c's state (http.Server.ConnState).
func (k *keepAlives) track(c net.Conn, s http.ConnState) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(k.conns, c)
	default:
		if m := k.conns[c]; m != nil {
			m.state.Store(int32(s))
		}
	}
}

// wrap marks HTTP/1 connections and, once the node hands off, asks their
// clients to close them after this answer.
func (k *keepAlives) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 {
			if m, _ := r.Context().Value(connMarkKey{}).(*connMark); m != nil && !m.http1.Load() {
				m.http1.Store(true)
			}
			if k.handingOff.Load() {
				w.Header().Set("Connection", "close")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// idleRemotes are the peers of up to ten idle HTTP/1 connections, for the
// log.
func (k *keepAlives) idleRemotes() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for c, m := range k.conns {
		if m.http1.Load() && m.idle() && len(out) < 10 {
			out = append(out, c.RemoteAddr().String())
		}
	}
	return out
}

// idle reports whether the connection waits for its next request.
func (m *connMark) idle() bool { return http.ConnState(m.state.Load()) == http.StateIdle }

// idleHTTP1 counts the HTTP/1 connections waiting for their next request.
func (k *keepAlives) idleHTTP1() int {
	return k.count(func(m *connMark) bool { return m.http1.Load() && m.idle() })
}

// unsettled counts the connections a handoff waits for before the server
// shuts down: the HTTP/1 ones, which close after their next answer, and
// those yet to send their first request (net/http drops a request it reads
// once shutting down, unanswered).
func (k *keepAlives) unsettled() int {
	return k.count(func(m *connMark) bool {
		return m.http1.Load() || http.ConnState(m.state.Load()) == http.StateNew
	})
}

// count counts the connections for which is holds.
func (k *keepAlives) count(is func(*connMark) bool) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, m := range k.conns {
		if is(m) {
			n++
		}
	}
	return n
}
