package portmux

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxSniff is the default of Mux.MaxSniff. Before its first request
// a conforming HTTP/2 client sends only SETTINGS, WINDOW_UPDATE, PING or
// PRIORITY frames — tens of bytes — then the request's header block, which
// is rarely over a few KiB; 256 KiB leaves ample room for both while one
// connection can no longer grow the mux's buffer without end.
const DefaultMaxSniff = 256 << 10

// LogEvery is the most often the mux logs one kind of trouble: a flood of
// refused connections or failing accepts makes one line per period, with
// the count since the last.
const LogEvery = 10 * time.Second

// Accept backoff, as net/http's: the first retry after 5 ms, doubling up
// to 1 s.
const (
	firstBackoff = 5 * time.Millisecond
	maxBackoff   = time.Second
)

// guard is the mux's bookkeeping of its connections: how many are open,
// which are being sniffed, the routing goroutines, and the stop signal.
type guard struct {
	conns    atomic.Int64  // connections accepted and not yet closed
	done     chan struct{} // closed by stop
	stopOnce sync.Once
	routes   sync.WaitGroup // routing goroutines

	mu      sync.Mutex
	sniffed map[net.Conn]struct{} // connections being sniffed, closed on stop

	refused, acceptFailed, tooLarge rateLog
}

// Conns is how many connections are open now, idle and sniffing ones
// included.
func (m *Mux) Conns() int { return int(m.conns.Load()) }

// admit counts c and returns it wrapped so that closing it uncounts it, or
// closes it and returns nil when MaxConns are open already.
func (m *Mux) admit(c net.Conn) net.Conn {
	n := m.conns.Add(1)
	if m.MaxConns > 0 && n > int64(m.MaxConns) {
		m.conns.Add(-1)
		_ = c.Close()
		m.refused.note(m.Logger, "connection refused: the node holds its limit of open connections",
			"limit", m.MaxConns, "remote", c.RemoteAddr().String())
		return nil
	}
	return &counted{Conn: c, open: &m.conns}
}

// sniffing records that c is being sniffed (on) or no longer is. It
// returns false when the mux has stopped: then c must not be served.
func (m *Mux) sniffing(c net.Conn, on bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !on {
		delete(m.sniffed, c)
		return true
	}
	if m.closed() {
		return false
	}
	m.sniffed[c] = struct{}{}
	return true
}

// closeSniffing closes the connections still being sniffed, so that their
// routing goroutines end.
func (m *Mux) closeSniffing() {
	m.stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.sniffed {
		_ = c.Close()
	}
}

func (g *guard) stop() { g.stopOnce.Do(func() { close(g.done) }) }

func (g *guard) closed() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// pause waits d, or until the mux stops; it reports whether to go on.
func (g *guard) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-g.done:
		return false
	}
}

// backoff is the wait after an accept error that followed a wait of d.
func backoff(d time.Duration) time.Duration {
	if d == 0 {
		return firstBackoff
	}
	return min(2*d, maxBackoff)
}

// counted is an accepted connection; closing it, once or many times,
// counts it closed once.
type counted struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *counted) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// rateLog logs one kind of event at most once per LogEvery, with how many
// happened since the last line.
type rateLog struct {
	last  atomic.Int64 // unix nanoseconds of the last line
	count atomic.Int64 // events since then
}

func (r *rateLog) note(log *slog.Logger, msg string, args ...any) {
	n := r.count.Add(1)
	if log == nil {
		return
	}
	now := time.Now().UnixNano()
	last := r.last.Load()
	if now-last < int64(LogEvery) || !r.last.CompareAndSwap(last, now) {
		return
	}
	r.count.Add(-n)
	log.Warn(msg, append(args, "events", n)...)
}
