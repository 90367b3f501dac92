package host

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestHandOffClosesKeepAlivesAfterARequest: once a node hands off, each
// HTTP/1 answer says Connection: close, and the idle keep-alive connections
// are counted until their clients have used and closed them.
func TestHandOffClosesKeepAlivesAfterARequest(t *testing.T) {
	var k keepAlives
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: k.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})),
		ConnContext: k.connContext(nil), ConnState: k.track, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	defer func() { _ = srv.Close(); <-done }()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func() *http.Response {
		resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if get().Close {
		t.Fatal("Connection: close before the handoff")
	}
	poll(t, "the keep-alive connection to be idle", func() bool { return k.idleHTTP1() == 1 })
	k.handingOff.Store(true)
	if !get().Close {
		t.Fatal("no Connection: close on an answer during the handoff")
	}
	poll(t, "no keep-alive connection left", func() bool { return k.unsettled() == 0 && k.idleHTTP1() == 0 })

	// A connection yet to send its first request is waited for too: the
	// server would drop a request it read once shutting down.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	poll(t, "the new connection to count", func() bool { return k.unsettled() == 1 })
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	poll(t, "the new connection closed after its answer", func() bool { return k.unsettled() == 0 })
}

// poll checks cond until it holds, for up to 10 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
