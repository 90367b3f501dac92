package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

func TestRoundRobinSpreads(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	tbl := newTable(route(registry.ProtoHTTP, "/svc/*", a.addr, b.addr))
	url := front(t, newProxy(t, tbl), tbl)
	for range 10 {
		if code, _, _ := get(t, url+"/svc/x"); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
	}
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Fatalf("hits a=%d b=%d, want 5 each", a.hits.Load(), b.hits.Load())
	}
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	release := make(chan struct{})
	var slow atomic.Int64 // which backend (1 or 2) holds the slow request
	handler := func(n int64) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/svc/slow" {
				slow.Store(n)
				<-release
			}
			fmt.Fprint(w, n)
		}
	}
	a, b := newBackend(t, "a", handler(1)), newBackend(t, "b", handler(2))
	rt := route(registry.ProtoHTTP, "/svc/*", a.addr, b.addr)
	rt.Balance = registry.BalanceLeastRequest
	tbl := newTable(rt)
	url := front(t, newProxy(t, tbl), tbl)
	var wg sync.WaitGroup
	wg.Go(func() { get(t, url+"/svc/slow") })
	defer wg.Wait()
	defer close(release)
	waitFor(t, 10*time.Second, "the slow request to arrive", func() bool { return slow.Load() != 0 })
	idle := fmt.Sprint(3 - slow.Load())
	for range 6 {
		if _, _, body := get(t, url+"/svc/fast"); body != idle {
			t.Fatalf("request went to busy backend %s, want idle %s", body, idle)
		}
	}
}

func TestKillOneMidLoadLosesNothing(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	rt := route(registry.ProtoHTTP, "/svc/*", a.addr, b.addr)
	rt.Retries = 2
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	url := front(t, p, tbl)
	const workers, each, killAt = 4, 50, 60
	var done atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if done.Add(1) == killAt {
					b.kill()
				}
				res, err := http.Get(url + "/svc/x")
				if err != nil || res.StatusCode != http.StatusOK {
					failed.Add(1)
					t.Errorf("request lost: %v %v", err, res)
				}
				if res != nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), workers*each)
	}
	waitFor(t, 10*time.Second, "b reported unhealthy", func() bool {
		ok, detail := healthOf(p, rt.Key, "i1")
		return !ok && strings.HasPrefix(detail, "unhealthy: ") && strings.Contains(detail, "refused")
	})
	_, detail := healthOf(p, rt.Key, "i1")
	t.Logf("killed instance: %s", detail)

	b.start(t, "b", nil, b.addr) // recovers on the same address
	waitFor(t, 10*time.Second, "b healthy again", func() bool { ok, _ := healthOf(p, rt.Key, "i1"); return ok })
	before := b.hits.Load()
	for range 4 {
		get(t, url+"/svc/x")
	}
	if b.hits.Load() == before {
		t.Fatal("recovered instance got no request")
	}
}

func TestNeverAnsweredIsUnhealthyAndNoProviderIsFast(t *testing.T) {
	rt := route(registry.ProtoHTTP, "/svc", deadAddr(t))
	rt.Health.Threshold = 1000 // the first probe decides a new instance's state
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	url := front(t, p, tbl)
	// before any check: the request fails to connect and answers 602, no hang
	if code, ptpCode, body := get(t, url+"/svc"); ptpCode != string(ptp.NoProvider) {
		t.Fatalf("got %d %s %q, want %s", code, ptpCode, body, ptp.NoProvider)
	}
	waitFor(t, 10*time.Second, "the instance listed unhealthy", func() bool {
		ok, detail := healthOf(p, rt.Key, "i0")
		return !ok && strings.HasPrefix(detail, "unhealthy: ") && strings.Contains(detail, "refused")
	})
	_, ptpCode, body := get(t, url+"/svc")
	if ptpCode != string(ptp.NoProvider) || !strings.Contains(body, "i0 unhealthy") {
		t.Fatalf("got %s %q, want %s naming i0 unhealthy", ptpCode, body, ptp.NoProvider)
	}
	t.Logf("reply: %s", strings.TrimSpace(body))
	if s := statsOf(p, rt.Key); s.Instances != 1 || s.Healthy != 0 || s.Classes[string(ptp.NoProvider)] != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHTTPHealthPath(t *testing.T) {
	var sick atomic.Bool
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
		}
	})
	rt := route(registry.ProtoHTTP, "/svc", a.addr)
	rt.Health.Path = "/healthz"
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	waitFor(t, 10*time.Second, "a checked healthy", func() bool { _, d := healthOf(p, rt.Key, "i0"); return d == "healthy" })
	sick.Store(true) // the port still accepts: only the HTTP check can tell
	waitFor(t, 10*time.Second, "a unhealthy by its health path", func() bool {
		ok, d := healthOf(p, rt.Key, "i0")
		return !ok && strings.Contains(d, "503")
	})
}

func TestTimeout(t *testing.T) {
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		select { // holds the request until the proxy gives up on it (bounded)
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	rt := route(registry.ProtoHTTP, "/svc", a.addr)
	rt.Timeout = 100 * time.Millisecond
	tbl := newTable(rt)
	url := front(t, newProxy(t, tbl), tbl)
	if code, ptpCode, body := get(t, url+"/svc"); ptpCode != string(ptp.Timeout) {
		t.Fatalf("got %d %s %q, want %s", code, ptpCode, body, ptp.Timeout)
	}
}

func TestGatewayErrorRetriedForIdempotentOnly(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	rt := route(registry.ProtoHTTP, "/svc", bad.addr, good.addr)
	rt.Retries = 1
	rt.Health.Threshold = 1000 // keep "bad" in rotation: this test is about retries
	tbl := newTable(rt)
	url := front(t, newProxy(t, tbl), tbl)
	for range 6 {
		if code, _, _ := get(t, url+"/svc"); code != http.StatusOK {
			t.Fatalf("GET answered %d, want 200 after a retry", code)
		}
	}
	saw503 := false
	for range 6 {
		res, err := http.Post(url+"/svc", "text/plain", strings.NewReader("once"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		saw503 = saw503 || res.StatusCode == http.StatusServiceUnavailable
	}
	if !saw503 {
		t.Fatal("a POST was replayed after the upstream read it")
	}
}

func TestXForwardedSetAndSpoofDropped(t *testing.T) {
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%d", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.ProtoMajor)
	})
	tbl := newTable(route(registry.ProtoHTTP, "/svc", a.addr))
	url := front(t, newProxy(t, tbl), tbl)
	req, _ := http.NewRequest(http.MethodGet, url+"/svc", nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "127.0.0.1|http|1" {
		t.Fatalf("upstream saw %q, want 127.0.0.1|http|1", body)
	}
}

func TestH2CUpstream(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) }))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // h2c only: HTTP/1.1 is refused
	srv.Start()
	t.Cleanup(srv.Close)
	rt := route(registry.ProtoHTTP, "/svc", srv.Listener.Addr().String())
	rt.H2 = true
	tbl := newTable(rt)
	url := front(t, newProxy(t, tbl), tbl)
	if _, _, body := get(t, url+"/svc"); body != "HTTP/2.0" {
		t.Fatalf("upstream saw %q, want HTTP/2.0", body)
	}
}

func TestWebSocketPassesThrough(t *testing.T) {
	a := newBackend(t, "a", wsEcho)
	tbl := newTable(route(registry.ProtoHTTP, "/ws", a.addr))
	url := front(t, newProxy(t, tbl), tbl)
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", err, res)
	}
	for _, msg := range []string{"hello", "frames both ways"} {
		io.WriteString(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q: got %q, %v", msg, got, err)
		}
	}
}

// wsEcho accepts an Upgrade by hand and echoes bytes until the peer closes.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	io.Copy(conn, brw)
}

func TestStatsCount(t *testing.T) {
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/svc/missing" {
			http.NotFound(w, r)
		}
	})
	rt := route(registry.ProtoHTTP, "/svc/*", a.addr)
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	url := front(t, p, tbl)
	for _, path := range []string{"/svc/a", "/svc/b", "/svc/missing"} {
		get(t, url+path)
	}
	waitFor(t, 10*time.Second, "the last request counted", func() bool { return statsOf(p, rt.Key).InFlight == 0 })
	s := statsOf(p, rt.Key)
	if s.Requests != 3 || s.Classes["2xx"] != 2 || s.Classes["4xx"] != 1 || s.Errors != 0 || s.P99 == 0 || s.Healthy != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestInstanceDroppedFromTableIsForgotten(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	rt := route(registry.ProtoHTTP, "/svc", a.addr, b.addr)
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	waitFor(t, 10*time.Second, "both tracked", func() bool { return statsOf(p, rt.Key).Instances == 2 })
	rt.Instances = rt.Instances[:1]
	tbl.set(rt)
	waitFor(t, 10*time.Second, "i1 forgotten", func() bool {
		_, d := healthOf(p, rt.Key, "i1")
		return d == "not tracked" && statsOf(p, rt.Key).Instances == 1
	})
}

func TestPassiveEjection(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable) // the port answers: TCP checks pass
	})
	good := newBackend(t, "good", nil)
	rt := route(registry.ProtoHTTP, "/svc", bad.addr, good.addr)
	rt.Health = registry.HealthCheck{Interval: time.Hour, Threshold: 2} // one active check, at once
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	url := front(t, p, tbl)
	waitFor(t, 10*time.Second, "bad checked healthy", func() bool { _, d := healthOf(p, rt.Key, "i0"); return d == "healthy" })
	for range 8 {
		get(t, url+"/svc")
	}
	ok, detail := healthOf(p, rt.Key, "i0")
	if ok || !strings.HasPrefix(detail, "ejected: 2 consecutive") {
		t.Fatalf("bad: %v %q, want ejected", ok, detail)
	}
	before := bad.hits.Load()
	for range 4 {
		if code, _, body := get(t, url+"/svc"); code != http.StatusOK || body != "good" {
			t.Fatalf("got %d %q after the ejection", code, body)
		}
	}
	if bad.hits.Load() != before {
		t.Fatal("an ejected instance still got requests")
	}
}

func TestFullDuplexEcho(t *testing.T) {
	a := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		http.NewResponseController(w).EnableFullDuplex()
		io.Copy(w, r.Body) // answers while the body still arrives
	})
	tbl := newTable(route(registry.ProtoHTTP, "/echo", a.addr))
	url := front(t, newProxy(t, tbl), tbl)
	const size = 4 << 20
	res, err := http.Post(url+"/echo", "application/octet-stream", io.LimitReader(&pattern{}, size))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if n, err := checkPattern(res.Body); err != nil || n != size {
		t.Fatalf("echoed %d of %d bytes: %v", n, size, err)
	}
}
