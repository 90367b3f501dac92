package host_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Each test here performs a resource-exhaustion attack of issue 11
// (finding 5) against a real node and checks that it is bounded and that
// the node keeps serving.

// memory samples the process's heap in use and resident set.
type memory struct{ heap, rss uint64 }

func sample() memory {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heap: ms.HeapInuse, rss: vmRSS()}
}

// vmRSS is VmRSS of /proc/self/status in bytes; 0 when unknown.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peak samples memory every few milliseconds until stop is called, which
// returns the largest heap seen.
func peak() (stop func() memory) {
	done := make(chan struct{})
	out := make(chan memory, 1)
	go func() {
		var top memory
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			m := sample()
			top.heap, top.rss = max(top.heap, m.heap), max(top.rss, m.rss)
			select {
			case <-done:
				out <- top
				return
			case <-t.C:
			}
		}
	}()
	return func() memory { close(done); return <-out }
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// growth logs and returns how far the peak rose over the baseline.
func growth(t *testing.T, what string, base, top memory) uint64 {
	t.Helper()
	d := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	t.Logf("%s: heap in use %.1f → peak %.1f MiB (+%.1f), RSS %.1f → peak %.1f MiB (+%.1f)", what,
		mib(base.heap), mib(top.heap), mib(d(top.heap, base.heap)), mib(base.rss), mib(top.rss), mib(d(top.rss, base.rss)))
	return d(top.heap, base.heap)
}

// settle collects garbage so that a baseline is not inflated by it.
func settle() memory {
	runtime.GC()
	return sample()
}

// closedByPeer reports whether err is what a connection the node closed
// gives a reader or writer: EOF, a reset, a broken pipe.
func closedByPeer(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestSniffFloodIsCutOff: a connection that opens as HTTP/2 and then sends
// frames but never a request was buffered by the port mux without limit
// (600 MiB → +2.2 GB RSS). Now each is closed past the sniff cap and the
// node's memory stays flat.
func TestSniffFloodIsCutOff(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	const conns, perConn = 4, 32 << 20 // 128 MiB offered in all
	base := settle()
	stop := peak()
	var wg sync.WaitGroup
	var cut atomic.Int32
	var sentAll atomic.Int64
	for range conns {
		wg.Go(func() {
			sent, err := floodFrames(n.Addr, perConn)
			sentAll.Add(int64(sent))
			if closedByPeer(err) && sent < perConn {
				cut.Add(1)
			} else {
				t.Errorf("flood connection: %d bytes taken, then %v", sent, err)
			}
		})
	}
	wg.Wait()
	top := stop()
	t.Logf("%d of %d flooding connections cut off, %.1f MiB taken by the node's socket in all", cut.Load(), conns, mib(uint64(sentAll.Load())))
	if g := growth(t, "sniff flood", base, top); g > 48<<20 {
		t.Fatalf("a sniff flood of %d MiB grew the heap by %.0f MiB", conns*perConn>>20, mib(g))
	}
	expectServing(t, n)
}

// floodFrames opens an HTTP/2 connection and sends DATA frames, never a
// HEADERS frame, up to limit bytes or until the node closes it; it returns
// how many bytes were written and the error that ended it.
func floodFrames(addr string, limit int) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		return 0, err
	}
	fr := http2.NewFramer(c, nil)
	_ = fr.WriteSettings()
	chunk := make([]byte, 16<<10)
	sent := 0
	for sent < limit {
		if err := fr.WriteData(1, false, chunk); err != nil {
			return sent, err
		}
		sent += len(chunk)
	}
	_, err = io.Copy(io.Discard, c) // the node must close it, well before the sniff timeout
	return sent, err
}

// TestConnectionFloodIsRefused: ≈20k idle connections exhausted the file
// descriptors, and the failing Accept stopped the node. Now connections
// over MaxConns are closed at once while the open ones keep working, and
// the node takes new ones once the flood ends.
func TestConnectionFloodIsRefused(t *testing.T) {
	const limit, flood = 40, 100
	n := meshtest.Start(t, host.Config{MaxConns: limit})
	// Two clients connected before the flood: gRPC, and HTTP on one
	// kept-alive connection.
	g := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "before-flood")
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &meshtest.HTTPClient{URL: n.URL, Session: "before-flood", Client: &http.Client{Transport: tr}}
	for _, c := range []meshtest.Client{g, hc} {
		mustPush(t, c, "warm", []byte("x"))
		mustPop(t, c, "warm")
	}
	var refused atomic.Int32
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for range flood {
		c, err := net.Dial("tcp", n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Read(make([]byte, 1)); closedByPeer(err) {
				refused.Add(1)
			}
		})
	}
	want := int32(flood - (limit - 2))
	meshtest.WaitFor(t, 10*time.Second, "the connections over the cap refused", func() bool { return refused.Load() >= want })
	t.Logf("%d of %d flooding connections refused at once (cap %d, 2 open before)", refused.Load(), flood, limit)
	// The clients connected before keep working, both ways.
	for _, c := range []meshtest.Client{g, hc} {
		mustPush(t, c, "during", []byte("still"))
		if got := mustPop(t, c, "during"); string(got) != "still" {
			t.Fatalf("during the flood: %q", got)
		}
	}
	// The flood ends; new connections are served again.
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	if got := refused.Load(); got > want+2 {
		t.Fatalf("%d connections refused, want about %d", got, want)
	}
	meshtest.WaitFor(t, 10*time.Second, "new connections served after the flood", func() bool {
		_, err := httpGet(n.URL + "/healthz")
		return err == nil
	})
	expectServing(t, n)
}

// TestSlowUploadsDoNotPinMemory: a body announcing 120 MiB and sending a
// trickle was given make([]byte, 120 MiB) at once and no deadline (3
// connections → +390 MB). Now the buffer grows only with what arrives, and
// a body falling below the minimum rate is cut off with 601 — over HTTP/1.1
// and over h2c.
func TestSlowUploadsDoNotPinMemory(t *testing.T) {
	n := meshtest.Start(t, host.Config{BodyGrace: time.Second})
	const declared, conns = 120 << 20, 3
	base := settle()
	stop := peak()
	var wg sync.WaitGroup
	codes := make([]string, conns+1)
	for i := range conns {
		wg.Go(func() { codes[i] = slowHTTP1Upload(t, n.Addr, declared) })
	}
	wg.Go(func() { codes[conns] = slowH2Upload(t, n.URL, declared) })
	wg.Wait()
	top := stop()
	for i, c := range codes {
		if c != string(ptp.Timeout) {
			t.Errorf("slow upload %d: answered %q, want %s", i, c, ptp.Timeout)
		}
	}
	if g := growth(t, fmt.Sprintf("%d slow uploads declaring %d MiB", conns+1, declared>>20), base, top); g > 48<<20 {
		t.Fatalf("slow uploads grew the heap by %.0f MiB", mib(g))
	}
	expectServing(t, n)
}

// slowHTTP1Upload declares length bytes, sends 1 KiB, stalls, and returns
// the PTP code of the answer (empty if none came within 15 s).
func slowHTTP1Upload(t *testing.T, addr string, length int) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(c, "POST /v1/interconn/chan/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"+
		"%s: slow\r\n%s: t\r\nContent-Length: %d\r\n\r\n", ptp.HeaderSessionID, ptp.HeaderTopic, length)
	_, _ = c.Write(make([]byte, 1<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Errorf("slow HTTP/1.1 upload: no answer: %v", err)
		return ""
	}
	defer resp.Body.Close()
	return codeOf(resp)
}

// slowH2Upload does the same over h2c, one stream of Go's own client.
func slowH2Upload(t *testing.T, url string, length int) string {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(make([]byte, 1<<10)) }() // then nothing until the answer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/interconn/chan/push", pr)
	req.ContentLength = int64(length)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(ptp.HeaderSessionID, "slow")
	req.Header.Set(ptp.HeaderTopic, "t")
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Errorf("slow h2c upload: no answer: %v", err)
		return ""
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("slow h2c upload went over %s", resp.Proto)
	}
	return codeOf(resp)
}

// codeOf reads the PTP code of a JSON reply.
func codeOf(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if i := strings.Index(string(b), `"code":"`); i >= 0 {
		return string(b[i+8 : i+8+len(ptp.OK)])
	}
	return fmt.Sprintf("HTTP %d %q", resp.StatusCode, b)
}

// TestBlockedPopsAreCapped: 20,000 pops on one connection took +295 MB. Now
// a connection may have MaxPopsPerConn pops waiting and the node MaxPops;
// past either, a pop is answered 700 at once naming the limit, and other
// connections' pops and pushes still work.
func TestBlockedPopsAreCapped(t *testing.T) {
	const perConn, node = 16, 40
	n := meshtest.Start(t, host.Config{MaxPopsPerConn: perConn, MaxPops: node})
	base := settle()
	stop := peak()
	a := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "pops")
	refusedA := popFlood(a, "wait", 4*perConn)
	meshtest.WaitFor(t, 10*time.Second, "one connection's pops over the cap refused", func() bool {
		return refusedA.count.Load() == 3*perConn && n.Host.Stats().Waiting == perConn
	})
	if m := refusedA.message(); !strings.Contains(m, strconv.Itoa(perConn)) || !strings.Contains(m, "per connection") {
		t.Fatalf("refusal does not name the limit: %q", m)
	}
	t.Logf("one connection: %d pops waiting, %d refused: %s", n.Host.Stats().Waiting, refusedA.count.Load(), refusedA.message())
	// Another connection still pops (and pushes).
	b := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "pops")
	mustPush(t, b, "other", []byte("b"))
	if got := mustPop(t, b, "other"); string(got) != "b" {
		t.Fatalf("another connection's pop: %q", got)
	}
	// Connections enough to reach the node's cap: then every pop is refused.
	for range node/perConn - 1 {
		popFlood(meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "pops"), "wait", perConn)
	}
	full := int64(node / perConn * perConn)
	meshtest.WaitFor(t, 10*time.Second, "the other connections' pops waiting", func() bool { return n.Host.Stats().Waiting == full })
	rest := popFlood(meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "pops"), "wait", perConn)
	meshtest.WaitFor(t, 10*time.Second, "the node's cap reached", func() bool {
		return n.Host.Stats().Waiting == node && rest.count.Load() == int32(perConn-node%perConn)
	})
	if m := rest.message(); !strings.Contains(m, strconv.Itoa(node)) || !strings.Contains(m, "node") {
		t.Fatalf("refusal does not name the node's limit: %q", m)
	}
	t.Logf("node: %d pops waiting; %s", n.Host.Stats().Waiting, rest.message())
	// A message pushed meanwhile wakes a waiting pop, which frees a slot.
	mustPush(t, b, "wait", []byte("wake"))
	meshtest.WaitFor(t, 10*time.Second, "a slot freed", func() bool { return n.Host.Stats().Waiting == node-1 })
	mustPush(t, b, "other", []byte("again"))
	if got := mustPop(t, b, "other"); string(got) != "again" {
		t.Fatalf("a pop in the freed slot: %q", got)
	}
	growth(t, fmt.Sprintf("%d pops attempted", 4*perConn+node+perConn), base, stop())
}

// refusals counts the pops of a flood answered 700.
type refusals struct {
	count atomic.Int32
	last  atomic.Value // string
}

func (r *refusals) message() string { s, _ := r.last.Load().(string); return s }

// popFlood starts count pops of topic on c, each waiting up to 20 s (until
// the node stops, at most), and counts those refused with 700.
func popFlood(c *meshtest.GRPCClient, topic string, count int) *refusals {
	r := &refusals{}
	for range count {
		go func() {
			out, err := c.C.Pop(c.Outgoing(context.Background()), &ptp.PopInbound{Topic: topic, Timeout: 20000})
			if err == nil && out.Code == string(ptp.BufferFull) {
				r.last.Store(out.Message)
				r.count.Add(1)
			}
		}()
	}
	return r
}

// TestStreamsPerConnectionAreCapped: without MaxConcurrentStreams one
// connection could open unbounded streams. Both servers now announce 256.
func TestStreamsPerConnectionAreCapped(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, ct := range []string{"application/grpc", "application/json"} {
		if got := maxStreams(t, n.Addr, ct); got != host.Defaults().MaxStreams {
			t.Errorf("%s: SETTINGS_MAX_CONCURRENT_STREAMS %d, want %d", ct, got, host.Defaults().MaxStreams)
		}
	}
}

// maxStreams opens an h2c connection whose first request has content type
// ct and returns the server's SETTINGS_MAX_CONCURRENT_STREAMS (0: none).
func maxStreams(t *testing.T, addr, ct string) uint32 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(c, c)
	_ = fr.WriteSettings()
	var hb strings.Builder
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/stats"}, {":authority", "x"}, {"content-type", ct}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte(hb.String()), EndHeaders: true, EndStream: true})
	for range 10 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("%s: %v", ct, err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() && s.NumSettings() > 0 {
			v, _ := s.Value(http2.SettingMaxConcurrentStreams)
			return v
		}
	}
	t.Fatalf("%s: no SETTINGS from the server", ct)
	return 0
}

// TestOversizeIdentifiersLeaveTheNodeServing: a 1,400-character session id
// (4,200 bytes escaped) made a NATS subject longer than NATS's control
// line; NATS dropped the node's connection and every later push or pop
// failed with 500 until restart. Now such ids, over HTTP and gRPC, are
// answered 400 naming the limit, and the node goes on serving.
func TestOversizeIdentifiersLeaveTheNodeServing(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	long, dotted := strings.Repeat("s", 4100), strings.Repeat(".", 1400)
	for _, id := range []struct{ session, topic string }{{long, "t"}, {dotted, "t"}, {"ok", dotted}, {"ok", long}} {
		what := fmt.Sprintf("session of %d bytes, topic of %d", len(id.session), len(id.topic))
		for _, method := range []string{"push", "pop", "peek", "release"} {
			r := meshtest.Post(t, n.URL, "/v1/interconn/chan/"+method, meshtest.Session(id.session, ptp.HeaderTopic, id.topic),
				map[string]any{"payload": []byte("x"), "timeout": 10})
			if method == "release" && len(id.topic) > 256 {
				continue // a release of a topic this long is refused, or the session released: either is fine
			}
			if r.Code != ptp.BadRequest || r.Status != 400 || !strings.Contains(r.Message, "256") {
				t.Fatalf("HTTP %s, %s: %s (%d) %q", method, what, r.Code, r.Status, r.Message)
			}
		}
		g := meshtest.NewGRPCClient(cc, id.session)
		if code, err := g.Push(t.Context(), id.topic, []byte("x")); err != nil || code != ptp.BadRequest {
			t.Fatalf("gRPC push, %s: %s %v", what, code, err)
		}
		if _, code, err := g.Pop(t.Context(), id.topic, 10); err != nil || code != ptp.BadRequest {
			t.Fatalf("gRPC pop, %s: %s %v", what, code, err)
		}
		expectServing(t, n)
	}
	// The message id names stored subjects too.
	ctx := metadata.AppendToOutgoingContext(context.Background(), ptp.HeaderSessionID, "ok", ptp.HeaderMessageID, long)
	out, err := ptp.NewPrivateTransferTransportClient(cc).Push(ctx, &ptp.PushInbound{Topic: "t", Payload: make([]byte, 5<<20)})
	if err != nil || out.Code != string(ptp.BadRequest) {
		t.Fatalf("gRPC push with a %d-byte message id: %v %v", len(long), out, err)
	}
	if _, err := httpGet(n.URL + "/healthz"); err != nil {
		t.Fatal(err)
	}
	expectServing(t, n)
}

// TestOversizeIdentifiersAreNotForwarded: pushed to a partner, such an id
// disabled the partner. Now the node refuses it before forwarding: nothing
// crosses the wire (the route runs through a recording proxy in
// plaintext), and both nodes go on serving.
func TestOversizeIdentifiersAreNotForwarded(t *testing.T) {
	a, b := pair(t, nil)
	rec := meshtest.Record(t, b.Addr)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": "http://" + rec.Addr,
		"allow_plaintext": true}, ptp.OK)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)
	dotted := strings.Repeat(".", 1400)
	bad := &meshtest.HTTPClient{URL: a.URL, Session: dotted, Target: "node-b"}
	if code, err := bad.Push(t.Context(), "t", []byte("x")); err != nil || code != ptp.BadRequest {
		t.Fatalf("forwarding an oversize session id: %s %v", code, err)
	}
	if wire := rec.Bytes(); len(wire) > 0 {
		t.Fatalf("the oversize session id was sent to the partner (%d bytes crossed)", len(wire))
	}
	good := &meshtest.HTTPClient{URL: a.URL, Session: "fine", Target: "node-b"}
	mustPush(t, good, "t", []byte("across"))
	if got := mustPop(t, &meshtest.HTTPClient{URL: b.URL, Session: "fine"}, "t"); string(got) != "across" {
		t.Fatalf("after the refusal: %q", got)
	}
	if len(rec.Bytes()) == 0 {
		t.Fatal("the recording proxy saw no traffic: the test checks nothing")
	}
	expectServing(t, a)
	expectServing(t, b)
}

// TestBodyDeadlineSparesLongPops: the body deadline ends with the body. A
// pop over HTTP/1.1 or h2c that waits past it still gets the message pushed
// later (a deadline left on the connection would end the pop's context).
func TestBodyDeadlineSparesLongPops(t *testing.T) {
	const grace = 100 * time.Millisecond
	n := meshtest.Start(t, host.Config{BodyGrace: grace})
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	defer h2c.CloseIdleConnections()
	for name, hc := range map[string]*http.Client{"http/1.1": http.DefaultClient, "h2c": {Transport: h2c}} {
		t.Run(name, func(t *testing.T) {
			c := &meshtest.HTTPClient{URL: n.URL, Session: "long-pop", Client: hc}
			type popped struct {
				p    []byte
				code ptp.Code
				err  error
			}
			got := make(chan popped, 1)
			start := time.Now()
			go func() {
				p, code, err := c.Pop(t.Context(), name, 10000)
				got <- popped{p, code, err}
			}()
			meshtest.WaitFor(t, 5*time.Second, "the pop waiting, past the body deadline", func() bool {
				return n.Host.Stats().Waiting == 1 && time.Since(start) > 5*grace
			})
			mustPush(t, &meshtest.HTTPClient{URL: n.URL, Session: "long-pop"}, name, []byte("late"))
			select {
			case r := <-got:
				if r.err != nil || r.code != ptp.OK || string(r.p) != "late" {
					t.Fatalf("long pop: %q %s %v", r.p, r.code, r.err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("long pop never answered")
			}
		})
	}
}
