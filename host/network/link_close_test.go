package network

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// countingListener counts the connections it accepted that are still open
// on the server side; a server closes its side once the client has closed.
type countingListener struct {
	net.Listener
	open atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// partnerListener serves gRPC (no service: the test needs connections, not
// calls) on 127.0.0.1:0 and counts its open connections.
func partnerListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := grpc.NewServer()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(cl) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return cl
}

// waitOpen polls until l has want open connections, for at most d.
func waitOpen(t *testing.T, l *countingListener, want int64, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for l.open.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d partner connections open after %v, want %d", what, l.open.Load(), d, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connect makes l dial now (gRPC connects lazily) and waits until it is
// connected.
func connect(t *testing.T, l *link) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.cc.Connect()
	for s := l.cc.GetState(); s != connectivity.Ready; s = l.cc.GetState() {
		if !l.cc.WaitForStateChange(ctx, s) {
			t.Fatalf("link to %s never connected (state %s)", l.node, s)
		}
	}
}

// TestCloseClosesReplacedLinks: a link replaced when its route changed is
// kept open for the calls in flight on it, but the network owns it: Close
// (closeAll) leaves no partner connection open, where the replaced link
// used to linger for a minute after Close.
func TestCloseClosesReplacedLinks(t *testing.T) {
	ln := partnerListener(t)
	n := &Network{cfg: Config{}}
	n.cfg.defaults()
	ls := newLinks(n)
	route := func(rev uint64) *entry {
		return &entry{Route: Route{NodeID: "partner", Address: "http://" + ln.Addr().String(), AllowPlaintext: true}, rev: rev}
	}
	first, err := ls.get(route(1))
	if err != nil {
		t.Fatal(err)
	}
	connect(t, first)
	waitOpen(t, ln, 1, 10*time.Second, "first link")
	second, err := ls.get(route(2))
	if err != nil || second == first {
		t.Fatalf("changed route: got the old link again (%v)", err)
	}
	connect(t, second)
	waitOpen(t, ln, 2, 10*time.Second, "replaced and current link")
	ls.closeAll()
	waitOpen(t, ln, 0, 10*time.Second, "after Close")
	if len(ls.retired) != 0 || len(ls.m) != 0 {
		t.Fatalf("after Close: %d retired and %d current links still held", len(ls.retired), len(ls.m))
	}
}

// TestRetiredLinkClosesAfterGrace: a replaced link is closed by its timer
// too, once, and closeAll after that has nothing left to close.
func TestRetiredLinkClosesAfterGrace(t *testing.T) {
	ln := partnerListener(t)
	n := &Network{cfg: Config{}}
	n.cfg.defaults()
	ls := newLinks(n)
	e := &entry{Route: Route{NodeID: "partner", Address: "http://" + ln.Addr().String(), AllowPlaintext: true}, rev: 1}
	first, err := ls.get(e)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, first)
	e2 := *e
	e2.rev = 2
	if _, err := ls.get(&e2); err != nil {
		t.Fatal(err)
	}
	ls.closeRetired(first) // what the grace timer runs
	waitOpen(t, ln, 0, 10*time.Second, "retired link after its grace")
	ls.mu.Lock()
	left := len(ls.retired)
	ls.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d retired links held after their grace", left)
	}
	ls.closeAll()
}
