// Package portmux serves gRPC and HTTP on one port. It reads the first bytes
// of each new connection: HTTP/1.x goes to the HTTP server; HTTP/2 with prior
// knowledge goes to grpc-go's own server transport when its first request has
// content-type application/grpc, and to the HTTP server (h2c) otherwise.
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
	"net"
	"strings"
	"sync"
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
	// SettingsWait is how long an HTTP/2 client may stay silent after its
	// SETTINGS before the mux sends the server's SETTINGS itself: some gRPC
	// clients (grpc-java) wait for them before the first request. Default 100ms.
	SettingsWait time.Duration
	// TLS, when set, terminates connections that open with a TLS handshake.
	// Plaintext connections are still served.
	TLS *tls.Config
}

// New wraps ln. Call Serve to start accepting.
func New(ln net.Listener) *Mux {
	return &Mux{ln: ln, grpc: newListener(ln.Addr()), http: newListener(ln.Addr()),
		SniffTimeout: 10 * time.Second, SettingsWait: 100 * time.Millisecond}
}

// GRPC is the listener to give grpc.Server.Serve.
func (m *Mux) GRPC() net.Listener { return m.grpc }

// HTTP is the listener to give http.Server.Serve.
func (m *Mux) HTTP() net.Listener { return m.http }

// Serve accepts connections until the listener is closed, then closes both
// derived listeners.
func (m *Mux) Serve() error {
	defer m.grpc.Close()
	defer m.http.Close()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go m.route(c)
	}
}

// Close stops accepting.
func (m *Mux) Close() error { return m.ln.Close() }

// tlsRecord is the first byte of a TLS handshake record.
const tlsRecord = 0x16

func (m *Mux) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(m.SniffTimeout))
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	var tc *tls.Conn
	if first[0] == tlsRecord && m.TLS != nil {
		tc = tls.Server(&replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(first[:]), c)}, m.TLS)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return
		}
		c = tc
		first[0] = 0
	}
	rec := &recorder{r: c}
	if tc == nil {
		rec.buf = append(rec.buf, first[0])
	}
	isGRPC, err := m.sniff(c, rec)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	conn := &replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(rec.buf), c), tls: tc}
	target := m.http
	if isGRPC {
		target = m.grpc
	}
	if !target.deliver(conn) {
		c.Close()
	}
}

// sniff reads the connection's opening and says whether it is gRPC.
func (m *Mux) sniff(c net.Conn, rec *recorder) (bool, error) {
	var b [len(preface)]byte
	n := copy(b[:], rec.buf)
	if !strings.HasPrefix(preface, string(b[:n])) {
		return false, nil
	}
	for n < len(b) {
		k, err := rec.Read(b[n:])
		if k > 0 && !strings.HasPrefix(preface, string(b[:n+k])) {
			return false, nil // HTTP/1.x
		}
		n += k
		if err != nil {
			return false, err
		}
	}
	fr := newSniffFramer(rec)
	sentSettings := false
	_ = c.SetReadDeadline(time.Now().Add(m.SettingsWait))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if !sentSettings && errors.As(err, &ne) && ne.Timeout() {
				// A silent client waits for our SETTINGS: only gRPC clients do.
				sentSettings = true
				if err := http2.NewFramer(c, nil).WriteSettings(); err != nil {
					return false, err
				}
				_ = c.SetReadDeadline(time.Now().Add(m.SniffTimeout))
				fr = newSniffFramer(rec) // a framer is done after a read error
				continue
			}
			return false, err
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok {
			ct := h.PseudoValue("content-type")
			for _, hf := range h.RegularFields() {
				if hf.Name == "content-type" {
					ct = hf.Value
				}
			}
			return strings.HasPrefix(ct, "application/grpc") || sentSettings, nil
		}
	}
}

// newSniffFramer reads frames from r, decoding header blocks.
func newSniffFramer(r io.Reader) *http2.Framer {
	fr := http2.NewFramer(nil, r)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	return fr
}

// recorder keeps every byte read through it, for replay.
type recorder struct {
	r   io.Reader
	buf []byte
}

func (r *recorder) Read(p []byte) (int, error) {
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
