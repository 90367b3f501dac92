package portmux

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestDrainLetsAcceptedConnectionsThrough: a connection accepted but still
// being sniffed when Drain begins reaches its server (a successor serving
// the same socket takes those not yet accepted), where Close would have
// closed it unread.
func TestDrainLetsAcceptedConnectionsThrough(t *testing.T) {
	m, addr := muxOn(t, func(*Mux) {})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, 10*time.Second, "the connection to be sniffed", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.sniffed) == 1
	})
	drained := make(chan error, 1)
	go func() { drained <- m.Drain(10 * time.Second) }()
	waitFor(t, 10*time.Second, "the mux to stop accepting", func() bool {
		d, err := net.Dial("tcp", addr)
		if err == nil {
			d.Close()
		}
		return err != nil
	})
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "http" {
		t.Fatalf("the connection accepted before Drain: %q %v, want it served", got, err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}
