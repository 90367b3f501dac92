package host_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// startAdmin starts a node with an admin port on loopback.
func startAdmin(t *testing.T, cfg host.Config) *meshtest.Node {
	t.Helper()
	cfg.AdminListen = "127.0.0.1:0"
	n := meshtest.Start(t, cfg)
	if n.AdminURL == n.URL {
		t.Fatal("no admin port")
	}
	return n
}

// refusedHere fails the test unless the data port of n refuses path with
// 404 naming the admin port.
func refusedHere(t *testing.T, n *meshtest.Node, method, path string, body any) {
	t.Helper()
	var r meshtest.Reply
	if method == http.MethodGet {
		r = meshtest.Get(t, n.URL+path)
	} else {
		r = meshtest.Post(t, n.URL, path, nil, body)
	}
	if r.Status != http.StatusNotFound || r.Code != ptp.NotFound || !strings.Contains(r.Message, "admin port") {
		t.Fatalf("data port %s %s: %d %s", method, path, r.Status, r.Body)
	}
}

// TestAdminPortServesControl: two nodes with admin ports are identified,
// woven and managed through their admin ports only — every control route
// works there and is refused on the data port — while messages still flow
// over the data ports, whose /stats and /healthz keep serving probes.
func TestAdminPortServesControl(t *testing.T) {
	a, b := startAdmin(t, host.Config{}), startAdmin(t, host.Config{})
	refusedHere(t, a, http.MethodPost, "/v1/interconn/node/refresh", map[string]string{"node_id": "node-a", "inst_id": "inst-a"})
	a.Identify(t, "node-a", "inst-a") // meshtest calls the admin port
	b.Identify(t, "node-b", "inst-b")
	refusedHere(t, a, http.MethodGet, "/v1/interconn/node", nil)
	for _, p := range []string{"net/refresh", "net/weave", "net/ack"} {
		refusedHere(t, a, http.MethodPost, "/v1/interconn/"+p, map[string]string{"node_id": "node-b"})
	}
	meshtest.Weave(t, a, b, nil) // net refresh, weave, ack and GET net/{id} on the admin ports
	refusedHere(t, a, http.MethodGet, "/v1/interconn/net", nil)
	refusedHere(t, a, http.MethodGet, "/v1/interconn/net/node-b", nil)

	// Data flows on the data ports.
	push := &meshtest.HTTPClient{URL: a.URL, Session: "s1", Target: "node-b"}
	if code, err := push.Push(t.Context(), "t", []byte("over the data port")); code != ptp.OK {
		t.Fatalf("push a→b: %s %v", code, err)
	}
	pop := &meshtest.HTTPClient{URL: b.URL, Session: "s1"}
	if got, code, err := pop.Pop(t.Context(), "t", 10000); code != ptp.OK || string(got) != "over the data port" {
		t.Fatalf("pop at b: %q %s %v", got, code, err)
	}
	var st api.Stats
	meshtest.Get(t, a.AdminURL+"/stats").Decode(t, &st)
	if st.NodeID != "node-a" || st.Network.Forwarded != 1 {
		t.Fatalf("admin /stats: %+v", st)
	}
	if r := meshtest.Get(t, a.URL+"/stats"); r.Code != ptp.OK || string(r.Content) != `{"serving":true}` {
		t.Fatalf("data port /stats: %s", r.Body)
	}
	if r := meshtest.Get(t, a.URL+"/healthz"); r.Code != ptp.OK {
		t.Fatalf("data port /healthz: %s", r.Body)
	}

	// Every other control route, admin port yes, data port no.
	gz := plugintest.Build(t, "plugins/gzip")
	refusedHere(t, a, http.MethodPost, "/v1/interconn/plugin/install", map[string]string{"name": "gzip"})
	a.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	reg := regGuide(t)
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/interconn/plugin/disable", map[string]string{"name": "gzip"}},
		{"/v1/interconn/plugin/enable", map[string]string{"name": "gzip"}},
		{"/v1/interconn/plugin/remove", map[string]string{"name": "gzip"}},
		{"/v1/interconn/registry/register", reg},
		{"/v1/interconn/registry/unregister", reg},
		{"/v1/interconn/net/disable", map[string]string{"node_id": "node-b"}},
		{"/v1/interconn/net/enable", map[string]string{"node_id": "node-b"}},
		{"/v1/interconn/net/remove", map[string]string{"node_id": "node-b"}},
	} {
		refusedHere(t, a, http.MethodPost, c.path, c.body)
		a.Control(t, c.path, c.body, ptp.OK)
	}
	for _, p := range []string{"/v1/interconn/plugin", "/v1/interconn/registry", "/v1/interconn/net"} {
		refusedHere(t, a, http.MethodGet, p, nil)
		if r := meshtest.Get(t, a.AdminURL+p); r.Code != ptp.OK {
			t.Fatalf("admin GET %s: %s", p, r.Body)
		}
	}
	if r := meshtest.Get(t, a.AdminURL+"/v1/interconn/plugin/gzip"); r.Code != ptp.NotFound {
		t.Fatalf("admin GET a removed plugin: %s", r.Body)
	}
	refusedHere(t, a, http.MethodGet, "/v1/interconn/plugin/gzip", nil)
	// The admin port serves nothing of the data side.
	if r := meshtest.Post(t, a.AdminURL, "/v1/interconn/chan/push", nil, `{"topic":"t","payload":""}`); r.Code != ptp.NotFound {
		t.Fatalf("admin port served a push: %s", r.Body)
	}
}

// get fetches url through hc and returns the status, the body and the
// headers.
func get(t *testing.T, hc *http.Client, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// TestAdminPortPprofAndPanel: pprof, /metrics and the panel answer on the
// admin port (/ leads to the panel) and are refused on the data port.
func TestAdminPortPprofAndPanel(t *testing.T) {
	n := startAdmin(t, host.Config{})
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/goroutine?debug=1": "goroutine profile:",
		"/debug/pprof/cmdline": "", "/debug/pprof/symbol": "num_symbols", "/metrics": "go_goroutines"} {
		if code, body, _ := get(t, hc, n.AdminURL+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("admin %s: %d %.200q", path, code, body)
		}
		refusedHere(t, n, http.MethodGet, path, nil)
	}
	if code, _, hdr := get(t, hc, n.AdminURL+"/"); code != http.StatusFound || hdr.Get("Location") != "/panel/" {
		t.Fatalf("admin /: %d %q", code, hdr.Get("Location"))
	}
	code, body, hdr := get(t, hc, n.AdminURL+"/panel/")
	if code != http.StatusOK || !strings.Contains(body, `<script src="panel.js"`) || !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("admin /panel/: %d %q %.200q", code, hdr.Get("Content-Security-Policy"), body)
	}
	if code, body, _ := get(t, hc, n.AdminURL+"/panel/panel.js"); code != http.StatusOK || !strings.Contains(body, "function poll") {
		t.Fatalf("admin /panel/panel.js: %d", code)
	}
	refusedHere(t, n, http.MethodGet, "/panel/", nil)
}

// TestAdminPortOnAllInterfacesKeepsTheOperatorRule: an admin port bound to
// 0.0.0.0 does not open control to the world: a caller from another
// address gets 403 without the admin token and is served with it; the
// panel's page (no data in it) loads for it, so that it can type the token.
func TestAdminPortOnAllInterfacesKeepsTheOperatorRule(t *testing.T) {
	ip := meshtest.NonLoopbackIP(t)
	n := meshtest.Start(t, host.Config{AdminListen: "0.0.0.0:0", AdminToken: "admin-t0ken"})
	_, port, _ := net.SplitHostPort(n.AdminURL[len("http://"):])
	remote := "http://" + net.JoinHostPort(ip.String(), port)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}}
	for _, p := range []string{"/v1/interconn/node", "/v1/interconn/net", "/debug/pprof/"} {
		if code, body, _ := get(t, hc, remote+p); code != http.StatusForbidden || !strings.Contains(body, string(ptp.Unauthorized)) {
			t.Fatalf("remote caller without token, %s: %d %.200q", p, code, body)
		}
		if code, body, _ := get(t, hc, remote+p, "Authorization", "Bearer admin-t0ken"); code != http.StatusOK {
			t.Fatalf("remote caller with the token, %s: %d %.200q", p, code, body)
		}
	}
	if code, body, _ := get(t, hc, remote+"/stats"); code != http.StatusOK || !strings.Contains(body, `"serving":true`) || strings.Contains(body, "pushed") {
		t.Fatalf("remote caller without token, /stats: %d %.200q", code, body)
	}
	if code, _, _ := get(t, hc, remote+"/panel/"); code != http.StatusOK {
		t.Fatalf("remote caller, /panel/: %d", code)
	}
}

// TestAdminPortBoundsItsConnections: with host.AdminMaxConns connections
// open (each served one request, then kept alive and idle), the admin port
// takes no other until one closes.
func TestAdminPortBoundsItsConnections(t *testing.T) {
	n := startAdmin(t, host.Config{})
	addr := strings.TrimPrefix(n.AdminURL, "http://")
	hc := &http.Client{Timeout: 30 * time.Second}
	if code, _, _ := get(t, hc, n.AdminURL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	hc.CloseIdleConnections()
	conns := make([]net.Conn, host.AdminMaxConns)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		defer c.Close()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	// The node holds them all, idle (for up to its 5-minute idle timeout),
	// so one more connection is not taken until a slot frees.
	busy := &http.Client{Timeout: 2 * time.Second}
	if _, err := busy.Get(n.AdminURL + "/healthz"); err == nil {
		t.Fatalf("served with %d connections open", len(conns))
	}
	conns[0].Close()
	meshtest.WaitFor(t, 30*time.Second, "a request served once a connection closed", func() bool {
		resp, err := busy.Get(n.AdminURL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
