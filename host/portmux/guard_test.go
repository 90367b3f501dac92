package portmux

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flakyListener fails its first n Accepts with EMFILE, as a process out of
// file descriptors does, then accepts from the real listener.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestServeSurvivesAcceptErrors: running out of file descriptors made
// Serve return, and the node stop. Now it backs off and goes on accepting.
func TestServeSurvivesAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(5)
	m := New(fl)
	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	t.Cleanup(func() { _ = m.Close() })
	go acceptAndEcho(m.HTTP(), "http")
	waitFor(t, 10*time.Second, "the failing accepts, retried (Serve must not return)", func() bool { return fl.fails.Load() < 0 })
	select {
	case err := <-served:
		t.Fatalf("Serve returned after accept errors: %v", err)
	default:
	}
	if got := routedTo(t, ln.Addr().String(), func(c net.Conn) { _, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }); got != "http" {
		t.Fatalf("after accept errors: routed to %q", got)
	}
	_ = m.Close()
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestBackoffDoublesToOneSecond(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for range 10 {
		d = backoff(d)
		got = append(got, d)
	}
	if got[0] != 5*time.Millisecond || got[1] != 10*time.Millisecond || got[9] != time.Second {
		t.Fatalf("backoff %v", got)
	}
}

// closedByPeer reports whether err is what a connection the other side
// closed gives: EOF (nil from io.Copy), a reset or a broken pipe.
func closedByPeer(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// acceptAndEcho serves l as serve does: each connection gets name, then is
// drained.
func acceptAndEcho(l net.Listener, name string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = c.Write([]byte(name))
			_, _ = io.Copy(io.Discard, c)
		}()
	}
}

// muxOn starts a mux with max connections over a fresh loopback listener;
// its listeners answer like serve's.
func muxOn(t *testing.T, configure func(*Mux)) (*Mux, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	configure(m)
	done := make(chan struct{})
	go func() { _ = m.Serve(); close(done) }()
	t.Cleanup(func() { _ = m.Close(); <-done })
	go acceptAndEcho(m.GRPC(), "grpc")
	go acceptAndEcho(m.HTTP(), "http")
	return m, ln.Addr().String()
}

// TestConnectionCap: past MaxConns (idle, sniffing connections count) a new
// connection is closed at once, the open ones keep working, and a slot freed
// is a slot to use.
func TestConnectionCap(t *testing.T) {
	m, addr := muxOn(t, func(m *Mux) { m.MaxConns = 3 })
	var idle []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitFor(t, 5*time.Second, "three open connections", func() bool { return m.Conns() == 3 })
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !closedByPeer(err) {
		t.Fatalf("connection over the cap was not closed: read %d, %v", n, err)
	}
	// An open connection still works.
	_, _ = idle[0].Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	buf := make([]byte, 4)
	_ = idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(idle[0], buf); err != nil || string(buf) != "http" {
		t.Fatalf("open connection: %q %v", buf, err)
	}
	// Closing one frees its slot.
	idle[1].Close()
	waitFor(t, 5*time.Second, "a freed slot", func() bool { return m.Conns() == 2 })
	if got := routedTo(t, addr, func(c net.Conn) { _, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }); got != "http" {
		t.Fatalf("after a slot was freed: routed to %q", got)
	}
}

// TestSniffBufferIsCapped: a client that sends frames but never a HEADERS
// frame was buffered without end. Now it is cut off at MaxSniff, and other
// connections are served meanwhile.
func TestSniffBufferIsCapped(t *testing.T) {
	const limit = 64 << 10
	_, addr := muxOn(t, func(m *Mux) { m.MaxSniff = limit })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(preface))
	fr := http2.NewFramer(c, nil)
	_ = fr.WriteSettings()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	chunk := make([]byte, 16<<10)
	sent := 0
	var werr error
	for sent < 16*limit && werr == nil { // bounded: 1 MiB at most
		werr = fr.WriteData(1, false, chunk)
		sent += len(chunk)
	}
	if werr == nil {
		// All of it fit in the socket buffers: the mux must close the
		// connection well before its 10 s sniff timeout.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, werr = io.Copy(io.Discard, c)
	}
	if !closedByPeer(werr) {
		t.Fatalf("a flood of %d bytes before any HEADERS was not cut off", sent)
	}
	t.Logf("cut off; %d bytes sent; %v", sent, werr)
	if got := routedTo(t, addr, func(c net.Conn) { _, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) }); got != "http" {
		t.Fatalf("another connection: routed to %q", got)
	}
}

// TestSniffRefusesOversizeFrames: before the server's SETTINGS a frame may
// be 16 KiB at most; a header announcing a larger one is refused before the
// mux allocates for it.
func TestSniffRefusesOversizeFrames(t *testing.T) {
	m, addr := muxOn(t, func(*Mux) {})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte(preface))
	_ = http2.NewFramer(c, nil).WriteSettings()
	// A DATA frame header announcing 16 MiB - 1, and a few bytes of it.
	_, _ = c.Write([]byte{0xff, 0xff, 0xff, 0x0, 0x0, 0x0, 0x0, 0x0, 0x1, 'x', 'y'})
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); !closedByPeer(err) {
		t.Fatalf("oversize frame: connection not closed: %v", err)
	}
	waitFor(t, 5*time.Second, "the connection uncounted", func() bool { return m.Conns() == 0 })
}

// TestCloseEndsSniffing: closing the mux closes connections still being
// sniffed, and Serve waits for their goroutines.
func TestCloseEndsSniffing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	done := make(chan struct{})
	go func() { _ = m.Serve(); close(done) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, 5*time.Second, "the connection sniffed", func() bool { return m.Conns() == 1 })
	_ = m.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return while a connection was being sniffed")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("sniffed connection still open after Close")
	}
}
