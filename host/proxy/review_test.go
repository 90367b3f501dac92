package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/registry"
)

// TestGatewayRetryKeepsBody: a PUT whose instance answers 503 without
// reading the body is not resent with what is left of the body: the caller
// gets the 503, or the whole body reached the other instance; never a
// truncated upload stored and answered 200.
func TestGatewayRetryKeepsBody(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable) // overloaded: answers without reading
	})
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	rt := route(registry.ProtoHTTP, "/up", bad.addr, good.addr)
	rt.Retries = 1
	rt.Health.Interval = time.Hour
	tbl := newTable(rt)
	url := front(t, newProxy(t, tbl), tbl)
	const size = 8 << 20
	for i := range 4 {
		var body io.Reader = bytes.NewReader(make([]byte, size))
		if i%2 == 0 {
			body = struct{ io.Reader }{body} // unknown length: chunked
		}
		req, _ := http.NewRequest(http.MethodPut, url+"/up", body)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // the connection cut while sending: nothing stored
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK && string(b) != strconv.Itoa(size) {
			t.Fatalf("request %d: 200 with %s of %d bytes stored", i, b, size)
		}
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("request %d: %d %s", i, res.StatusCode, b)
		}
	}
	if bad.hits.Load() == 0 {
		t.Fatal("the 503 instance was never tried")
	}
}

// TestSharedInstanceIDIdle: two registrations sharing an instance_id (their
// Keys differ) are two upstreams, both used, and the health loop does not
// recreate and re-probe them at every sync or request.
func TestSharedInstanceIDIdle(t *testing.T) {
	var probes atomic.Int64
	h := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				probes.Add(1)
			}
			io.WriteString(w, name)
		}
	}
	one, two := newBackend(t, "one", h("one")), newBackend(t, "two", h("two"))
	rt := route(registry.ProtoHTTP, "/dup", one.addr, two.addr)
	rt.Instances[0].ID, rt.Instances[1].ID = "10.0.0.5:8080", "10.0.0.5:8080"
	rt.Instances[0].Key, rt.Instances[1].Key = "blue.10.0.0.5:8080", "green.10.0.0.5:8080"
	rt.Health = registry.HealthCheck{Path: "/health", Interval: time.Hour, Threshold: 3}
	tbl := newTable(rt)
	p := newProxy(t, tbl)
	url := front(t, p, tbl)
	waitFor(t, 5*time.Second, "both probed", func() bool {
		s1, _ := p.Health(rt.Key, "blue.10.0.0.5:8080")
		s2, _ := p.Health(rt.Key, "green.10.0.0.5:8080")
		return s1 == registry.Healthy && s2 == registry.Healthy
	})
	seen := map[string]int{}
	for range 20 {
		_, _, body := get(t, url+"/dup")
		seen[body]++
	}
	tbl.set(rt)                        // a table change: the sync must keep both as they are
	time.Sleep(500 * time.Millisecond) // idle: a spinning loop probes thousands of times
	if n := probes.Load(); n > 4 {
		t.Fatalf("%d health probes with a 1h interval (want one per instance)", n)
	}
	if seen["one"] == 0 || seen["two"] == 0 {
		t.Fatalf("answered by %v, want both instances", seen)
	}
}

// TestHangingConnectRetried: an instance whose connect hangs (SYNs
// dropped) fails as a dial error within the attempt, and the request is
// retried on the healthy instance instead of using the whole timeout.
func TestHangingConnectRetried(t *testing.T) {
	good := newBackend(t, "good", nil)
	const black = "127.0.0.2:9" // never dialled: the test's dialer hangs on it
	d := &net.Dialer{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == black {
			<-ctx.Done()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
		}
		return d.DialContext(ctx, network, addr)
	}
	rt := route(registry.ProtoHTTP, "/h", black, good.addr)
	rt.Timeout = 2 * time.Second
	rt.Health.Interval = time.Hour
	tbl := newTable(rt)
	p := proxy.New(proxy.Config{Routes: tbl, Dial: dial})
	t.Cleanup(p.Close)
	url := front(t, p, tbl)
	for i := range 2 {
		if code, ptpCode, body := get(t, url+"/h"); code != http.StatusOK || body != "good" {
			t.Fatalf("request %d: %d %s %q", i, code, ptpCode, strings.TrimSpace(body))
		}
	}
}

// TestForwardsMatchedPath: the upstream gets the path the route matched,
// not another (percent-encoded) spelling of it that it could decode
// differently.
func TestForwardsMatchedPath(t *testing.T) {
	var got atomic.Value
	up := newBackend(t, "up", func(w http.ResponseWriter, r *http.Request) { got.Store(r.RequestURI) })
	tbl := newTable(route(registry.ProtoHTTP, "/open/*", up.addr))
	url := front(t, newProxy(t, tbl), tbl)
	if code, _, body := get(t, url+"/open/a%2Fb?q=1"); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	if uri, _ := got.Load().(string); uri != "/open/a/b?q=1" {
		t.Fatalf("upstream saw %q, want /open/a/b?q=1", uri)
	}
}
