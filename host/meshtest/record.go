package meshtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Recorder is a TCP proxy that keeps every byte it carries, both ways, so a
// test can assert what crossed the wire.
type Recorder struct {
	Addr string // where to connect instead of the target

	mu  sync.Mutex
	buf []byte
}

// Record starts a recording proxy to target on 127.0.0.1:0.
func Record(tb testing.TB, target string) *Recorder {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	r := &Recorder{Addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.carry(c, target)
		}
	}()
	return r
}

func (r *Recorder) carry(c net.Conn, target string) {
	defer c.Close()
	t, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(io.MultiWriter(dst, r), src)
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done
}

func (r *Recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.buf = append(r.buf, p...)
	r.mu.Unlock()
	return len(p), nil
}

// Bytes returns what was carried so far.
func (r *Recorder) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf...)
}
