// Package portmux serves gRPC and HTTP on one port. It reads the first bytes
// of each new connection: HTTP/1.x goes to the HTTP server; HTTP/2 with prior
// knowledge goes to grpc-go's own server transport when its first request is
// gRPC from a gRPC library that talks to the node directly (see nativeGRPC),
// and to the HTTP server (h2c) otherwise, whose handler (Mixed) serves each
// request as gRPC or HTTP by its content-type.
// The bytes read are replayed, so each server sees the connection whole.
// When the mux has a TLS configuration, a connection opening with a TLS
// handshake is terminated here and its plaintext is sniffed the same way;
// TLSState gives the servers the handshake's outcome (peer certificates).
//
// grpc-go's native transport is used rather than grpc.Server.ServeHTTP, which
// is much slower; see RATIONALE.md.
package portmux

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const preface = http2.ClientPreface // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Mux splits one listener into a gRPC and an HTTP listener.
type Mux struct {
	ln         net.Listener
	grpc, http *listener
	// SniffTimeout bounds how long a new connection may take to show what it
	// is. Default 10s.
	SniffTimeout time.Duration
	// SettingsWait is how long after its preface an HTTP/2 client may go
	// without a request before the mux sends the server's SETTINGS itself:
	// some gRPC clients (grpc-java) wait for them before the first request,
	// and such a client is served as gRPC. Default 100ms.
	SettingsWait time.Duration
	// TLS, when set, terminates connections that open with a TLS handshake.
	// Plaintext connections are still served.
	TLS *tls.Config
	// MaxSniff bounds the bytes kept of a connection's opening while it is
	// sniffed; a connection that sends more before its first request is
	// closed. Default DefaultMaxSniff.
	MaxSniff int
	// MaxConns bounds the connections open at once, idle and sniffing ones
	// included; past it a new connection is closed as soon as it is
	// accepted. Zero means no bound.
	MaxConns int
	// Logger, when set, hears of refused connections and accept errors, at
	// most once per LogEvery each.
	Logger *slog.Logger

	guard
	native, h2, http1 atomic.Int64 // connections handed on, by route

	drainWait atomic.Int64  // Drain's bound, ns; 0: Serve closes at once (drain.go)
	settled   chan struct{} // closed when Serve has let its accepted connections through
}

// Routes counts the connections a mux has handed on, by where they went.
type Routes struct {
	HTTP1  int64 // HTTP/1.x, to the HTTP server
	Native int64 // pure gRPC, to grpc-go's native transport
	H2     int64 // any other HTTP/2, to the HTTP server (Mixed)
}

// Routes returns the counts so far.
func (m *Mux) Routes() Routes {
	return Routes{HTTP1: m.http1.Load(), Native: m.native.Load(), H2: m.h2.Load()}
}

// kind is where a sniffed connection goes.
type kind int

const (
	toHTTP1 kind = iota
	toH2
	toNative
)

// New wraps ln. Call Serve to start accepting.
func New(ln net.Listener) *Mux {
	m := &Mux{ln: ln, grpc: newListener(ln.Addr()), http: newListener(ln.Addr()),
		SniffTimeout: 10 * time.Second, SettingsWait: 100 * time.Millisecond, MaxSniff: DefaultMaxSniff}
	m.done = make(chan struct{})
	m.sniffed = make(map[net.Conn]struct{})
	m.settled = make(chan struct{})
	return m
}

// GRPC is the listener to give grpc.Server.Serve.
func (m *Mux) GRPC() net.Listener { return m.grpc }

// HTTP is the listener to give http.Server.Serve.
func (m *Mux) HTTP() net.Listener { return m.http }

// Serve accepts connections until the mux or its listener is closed, then
// closes the connections still being sniffed and both derived listeners,
// and waits for the routing goroutines. Accept errors (out of file
// descriptors, say) never stop it: it backs off, 5 ms doubling to 1 s, as
// net/http does.
func (m *Mux) Serve() error {
	defer m.routes.Wait()
	defer m.grpc.Close()
	defer m.http.Close()
	defer m.closeSniffing()
	defer m.settle() // first: a Drain lets the accepted connections through
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || m.closed() {
				return nil
			}
			delay = backoff(delay)
			m.acceptFailed.note(m.Logger, "accept failed; backing off", "err", err.Error(), "retry_in", delay)
			if !m.pause(delay) {
				return nil
			}
			continue
		}
		delay = 0
		if c = m.admit(c); c != nil {
			m.routes.Add(1)
			go m.route(c)
		}
	}
}

// Close stops accepting.
func (m *Mux) Close() error {
	m.stop()
	return m.ln.Close()
}

// tlsRecord is the first byte of a TLS handshake record.
const tlsRecord = 0x16

// route sniffs c and hands it to the server it is for.
func (m *Mux) route(c net.Conn) {
	defer m.routes.Done()
	if !m.sniffing(c, true) {
		c.Close()
		return
	}
	conn, k, err := m.open(c)
	m.sniffing(c, false)
	if err != nil {
		if errors.Is(err, errSniffTooLarge) {
			m.tooLarge.note(m.Logger, "connection closed: it sent too much before its first request",
				"remote", c.RemoteAddr().String(), "limit_bytes", m.MaxSniff)
		}
		c.Close()
		return
	}
	if !m.target(k).deliver(conn) {
		c.Close()
	}
}

// target counts a connection of kind k and returns its listener.
func (m *Mux) target(k kind) *listener {
	switch k {
	case toNative:
		m.native.Add(1)
		return m.grpc
	case toH2:
		m.h2.Add(1)
	default:
		m.http1.Add(1)
	}
	return m.http
}

// open terminates TLS if c opens with a handshake, sniffs the plaintext and
// returns the connection to deliver, which replays what was read.
func (m *Mux) open(c net.Conn) (net.Conn, kind, error) {
	_ = c.SetReadDeadline(time.Now().Add(m.SniffTimeout))
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return nil, toHTTP1, err
	}
	var tc *tls.Conn
	if first[0] == tlsRecord && m.TLS != nil {
		tc = tls.Server(&replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(first[:]), c)}, m.TLS)
		if err := tc.Handshake(); err != nil {
			return nil, toHTTP1, err
		}
		c = tc
	}
	rec := &recorder{r: c, max: m.MaxSniff}
	if tc == nil {
		rec.buf = append(rec.buf, first[0])
	}
	k, err := m.sniff(c, rec)
	if err != nil {
		return nil, toHTTP1, err
	}
	_ = c.SetReadDeadline(time.Time{})
	return &replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(rec.buf), c), tls: tc}, k, nil
}

// sniff reads the connection's opening and says where it goes.
func (m *Mux) sniff(c net.Conn, rec *recorder) (kind, error) {
	var b [len(preface)]byte
	n := copy(b[:], rec.buf)
	if !strings.HasPrefix(preface, string(b[:n])) {
		return toHTTP1, nil
	}
	for n < len(b) {
		k, err := rec.Read(b[n:])
		if k > 0 && !strings.HasPrefix(preface, string(b[:n+k])) {
			return toHTTP1, nil
		}
		n += k
		if err != nil {
			return toHTTP1, err
		}
	}
	fr := m.newSniffFramer(rec)
	settings := m.settingsAfter(c)
	defer settings.stop()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return toHTTP1, err
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			// A client that waited for our SETTINGS: only gRPC libraries
			// (grpc-java) do.
			if nativeGRPC(h) || settings.stop() {
				return toNative, nil
			}
			return toH2, nil
		}
	}
}

// settingsTimer sends the server's SETTINGS to a client silent for
// SettingsWait, without interrupting the sniff's reads: a read deadline
// would cut a frame in half, and a framer cannot go on after it.
type settingsTimer struct {
	t       *time.Timer
	written chan struct{} // closed once the timer's write is done
	once    sync.Once
	sent    bool
}

func (m *Mux) settingsAfter(c net.Conn) *settingsTimer {
	s := &settingsTimer{written: make(chan struct{})}
	s.t = time.AfterFunc(m.SettingsWait, func() {
		defer close(s.written)
		_ = c.SetWriteDeadline(time.Now().Add(m.SniffTimeout))
		_ = http2.NewFramer(c, nil).WriteSettings()
		_ = c.SetWriteDeadline(time.Time{})
	})
	return s
}

// stop stops the timer, or waits for its write to end, and reports whether
// SETTINGS were sent. The connection is never handed on mid-write.
func (s *settingsTimer) stop() bool {
	s.once.Do(func() {
		if !s.t.Stop() {
			<-s.written
			s.sent = true
		}
	})
	return s.sent
}

// newSniffFramer reads frames from r, decoding header blocks. The server
// has announced no SETTINGS yet, so a client may send frames of at most the
// protocol's initial 16 KiB; the framer refuses larger ones before
// allocating for them.
func (m *Mux) newSniffFramer(r io.Reader) *http2.Framer {
	fr := http2.NewFramer(nil, r)
	fr.SetMaxReadFrameSize(initialMaxFrameSize)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = uint32(m.MaxSniff)
	return fr
}

// initialMaxFrameSize is SETTINGS_MAX_FRAME_SIZE before any SETTINGS
// (RFC 9113 §6.5.2).
const initialMaxFrameSize = 16 << 10

// recorder keeps every byte read through it, for replay, up to max bytes:
// past them it fails with errSniffTooLarge.
type recorder struct {
	r   io.Reader
	buf []byte
	max int
}

var errSniffTooLarge = errors.New("connection sent more than the sniff limit before its first request")

func (r *recorder) Read(p []byte) (int, error) {
	room := r.max - len(r.buf)
	if room <= 0 {
		return 0, errSniffTooLarge
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := r.r.Read(p)
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// replayConn reads the sniffed bytes again, then the connection.
type replayConn struct {
	net.Conn
	r   io.Reader
	tls *tls.Conn // the terminated TLS connection under it, if any
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TLSState returns the TLS state of a connection the mux delivered, or nil
// when it came in plaintext.
func TLSState(c net.Conn) *tls.ConnectionState {
	rc, ok := c.(*replayConn)
	if !ok || rc.tls == nil {
		return nil
	}
	st := rc.tls.ConnectionState()
	return &st
}

// listener is a net.Listener fed by the mux.
type listener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newListener(addr net.Addr) *listener {
	return &listener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *listener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }
