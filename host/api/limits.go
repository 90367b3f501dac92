package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// PopLimiter bounds the pops waiting at once, on each connection and on the
// node. A blocked pop holds a stream, a goroutine and a waiter for up to its
// timeout; unbounded, one connection opening 20,000 of them took 295 MB.
// Past a bound a pop is answered E0000000700 (buffer full) at once: the
// condition is the node's resources running out, not a refusal of who asks,
// and it passes when other pops return, as a full buffer does — so clients
// that retry on 700 do the right thing (614 would tell them never to retry).
//
// The per-connection bound is below the streams a connection may carry, so
// that a connection whose pops wait still has streams for the pushes that
// would wake them. A nil PopLimiter bounds nothing.
type PopLimiter struct {
	perConn, node int

	mu     sync.Mutex
	n      int                   // pops waiting on the node
	byConn map[*network.Conn]int // pops waiting per connection; only connections with some
}

// NewPopLimiter bounds pops to perConn on one connection and node on the
// node; a bound ≤ 0 is no bound.
func NewPopLimiter(perConn, node int) *PopLimiter {
	return &PopLimiter{perConn: perConn, node: node, byConn: make(map[*network.Conn]int)}
}

// Acquire counts a pop arriving on c (nil for an in-process call, counted
// for the node only), or returns an E0000000700 error naming the bound it
// would pass. Each pop acquired must be released once, with the same c.
func (l *PopLimiter) Acquire(c *network.Conn) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.node > 0 && l.n >= l.node {
		return ptp.Errorf(ptp.BufferFull, "the node has %d pops waiting, its limit: retry when some return", l.n)
	}
	if c != nil && l.perConn > 0 && l.byConn[c] >= l.perConn {
		return ptp.Errorf(ptp.BufferFull,
			"this connection has %d pops waiting, the limit per connection: retry when one returns, or pop on another connection", l.perConn)
	}
	l.n++
	if c != nil {
		l.byConn[c]++
	}
	return nil
}

// Release counts done a pop Acquire admitted on c.
func (l *PopLimiter) Release(c *network.Conn) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if c == nil {
		return
	}
	if l.byConn[c]--; l.byConn[c] <= 0 {
		delete(l.byConn, c)
	}
}

// Waiting is how many pops are counted now.
func (l *PopLimiter) Waiting() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// BodyRate is how fast a request body must arrive, after Apache's
// mod_reqtimeout (body=20,MinRate=…): a body has Grace to start, and every
// MinRate bytes received give it one more second. A sender that stalls is
// cut off at most Grace after it fell below the rate; one that keeps up is
// never cut off, however large its body. A per-read idle timeout alone would
// let a sender trickle one byte per period for ever; a whole-body deadline
// alone would cut off large bodies on slow links.
type BodyRate struct {
	Grace   time.Duration // time a body has before the rate counts; default 20s
	MinRate int64         // bytes per second a body must average after Grace; default 64 KiB/s
}

type bodyRateKey struct{}

// ConnContext is the http.Server hook of ConnContext (below) that also
// makes b the body rate of the connection's requests.
func (b BodyRate) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ConnContext(ctx, c), bodyRateKey{}, b)
}

// bodyRateOf is the body rate of a request's connection.
func bodyRateOf(ctx context.Context) BodyRate {
	b, _ := ctx.Value(bodyRateKey{}).(BodyRate)
	return b
}

// bodyReader reads one request body under its rate's read deadline.
type bodyReader struct {
	rate     BodyRate
	rc       deadliner // nil when the writer cannot set one
	start    time.Time
	deadline time.Time // the read deadline set; zero when none could be
}

// reader starts the clock of a body read through w's connection. Zero
// fields of b take their defaults.
func (b BodyRate) reader(w http.ResponseWriter) bodyReader {
	if b.Grace <= 0 {
		b.Grace = defaults.BodyGrace
	}
	if b.MinRate <= 0 {
		b.MinRate = defaults.BodyMinRate
	}
	br := bodyReader{rate: b, rc: deadlinerOf(w), start: time.Now()}
	br.extend(0)
	return br
}

// deadliner is a ResponseWriter that sets its connection's (HTTP/1) or
// stream's (HTTP/2) read deadline, as http.ResponseController does; asked
// directly, it costs no allocation on every request.
type deadliner interface{ SetReadDeadline(time.Time) error }

func deadlinerOf(w http.ResponseWriter) deadliner {
	for range 8 { // writers wrapping writers: a few at most
		if d, ok := w.(deadliner); ok {
			return d
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// extend moves the read deadline to what got bytes earn, when that is a
// second or more past the one set: one deadline change per second of
// progress, not one per read.
func (br *bodyReader) extend(got int) {
	d := br.start.Add(br.rate.Grace + time.Duration(int64(got)*int64(time.Second)/br.rate.MinRate))
	if !br.deadline.IsZero() && d.Sub(br.deadline) < time.Second {
		return
	}
	if br.rc != nil && br.rc.SetReadDeadline(d) == nil {
		br.deadline = d
	}
}

// done clears the read deadline, so that it cannot end the connection (or
// the request's context) while the call it carried is answered.
func (br *bodyReader) done() {
	if !br.deadline.IsZero() {
		_ = br.rc.SetReadDeadline(time.Time{})
	}
}

// Body buffers start at firstBodyBuf (or the declared length, if smaller)
// and double as bytes arrive, up to the declared length when there is one.
// The first buffer is what a request pins before sending anything — on
// HTTP/2 once per stream — so it is as small as a goroutine's stack.
const firstBodyBuf = 4 << 10

// readAll reads body to its end. length is the declared Content-Length, or
// -1; it caps the buffer but is not trusted to allocate it.
func (br *bodyReader) readAll(body io.Reader, length int64) ([]byte, error) {
	size := int64(firstBodyBuf)
	if length >= 0 {
		size = min(size, length)
	}
	buf := make([]byte, 0, size)
	for length < 0 || int64(len(buf)) < length {
		if cap(buf)-len(buf) < firstBodyBuf && (length < 0 || int64(cap(buf)) < length) {
			buf = grow(buf, length)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 {
			br.extend(len(buf))
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// grow doubles buf's capacity, to at most length when that is known.
func grow(buf []byte, length int64) []byte {
	size := 2 * int64(cap(buf))
	if length >= 0 {
		size = min(size, length)
	}
	return append(make([]byte, 0, size), buf...)
}

// tooSlow is the error of a body cut off by its deadline.
func (br *bodyReader) tooSlow(got int, length int64) error {
	return ptp.Errorf(ptp.Timeout, "request body arrived too slowly: %d of %d bytes in %s; a body may take %s plus 1 s per %d bytes received",
		got, length, time.Since(br.start).Round(time.Millisecond), br.rate.Grace, br.rate.MinRate)
}
