package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/proxy"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The service registry end to end (issue 15): real upstreams on loopback,
// registered through the node's API in the older Mesh's JSON, called
// through the node's one port over HTTP and gRPC, locally and from a
// woven partner.

// guide is the registration of the PTP usage guide, verbatim but for the
// addresses and the instance: an HTTP service and a gRPC service, both at
// /a/b/c, valid for 300 s.
func guide(inst, httpAddr, grpcAddr string) string {
	return fmt.Sprintf(`{"name":"tensorserving","kind":"complex","address":%[2]q,"instance_id":%[1]q,"timestamp":300000,"attachments":{},
 "content":{"services":[
   {"urn":"/a/b/c","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"http","codec":"json",
    "asyncable":false,"timeout":10000,"retries":0,"address":%[2]q,"lang":"Python3","attrs":{}},
   {"urn":"/a/b/c","kind":"Restful","namespace":"","name":"","version":"1.0.0","proto":"grpc","codec":"json",
    "asyncable":false,"timeout":10000,"retries":0,"address":%[3]q,"lang":"Python3","attrs":{}}]}}`, inst, httpAddr, grpcAddr)
}

// registration is one service of one instance, in the same JSON.
func registration(name, inst, urn, proto, kind, addr string, flags int, attrs string) string {
	if attrs == "" {
		attrs = "{}"
	}
	return fmt.Sprintf(`{"name":%q,"kind":"complex","address":%q,"instance_id":%q,"timestamp":300000,
 "content":{"services":[{"urn":%q,"kind":%q,"proto":%q,"address":%q,"flags":%d,"attrs":%s}]}}`,
		name, addr, inst, urn, kind, proto, addr, flags, attrs)
}

func register(t testing.TB, n *meshtest.Node, body string, want ptp.Code) meshtest.Reply {
	t.Helper()
	r := meshtest.Post(t, n.URL, "/v1/interconn/registry/register", nil, body)
	if r.Code != want {
		t.Fatalf("register on %s: want %s, got %s", n.Addr, want, r.Body)
	}
	return r
}

// echoUpstream is an HTTP/1.1 upstream answering "NAME METHOD PATH BODY".
func echoUpstream(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Upstream", name)
		fmt.Fprintf(w, "%s %s %s %s", name, r.Method, r.URL.RequestURI(), body)
	}))
	t.Cleanup(s.Close)
	return s
}

func hostPort(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// fetch sends one HTTP request with the headers and returns status and body.
func fetch(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// echoCall calls method on cc with the BytesValue echo's message.
func echoCall(ctx context.Context, cc *grpc.ClientConn, method, msg string) (string, error) {
	var out wrapperspb.BytesValue
	err := cc.Invoke(ctx, method, wrapperspb.Bytes([]byte(msg)), &out)
	return string(out.GetValue()), err
}

// TestRegistryGuideJSONRoutesHTTPAndGRPC: the guide's registration, as the
// management plane posts it, routes an HTTP request and a gRPC call at
// /a/b/c to their upstreams; the list shows both services healthy.
func TestRegistryGuideJSONRoutesHTTPAndGRPC(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	web, rpc := echoUpstream(t, "web"), meshtest.StartGRPCUpstream(t, "rpc")
	register(t, n, guide(hostPort(web), hostPort(web), rpc.Addr), ptp.OK)

	if code, body := fetch(t, nil, http.MethodPost, n.URL+"/a/b/c?x=1", nil, "tensor"); code != 200 || body != "web POST /a/b/c?x=1 tensor" {
		t.Fatalf("HTTP through the node: %d %q", code, body)
	}
	cc := meshtest.Dial(t, n.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := echoCall(ctx, cc, "/a/b/c", "model"); err != nil || got != "rpc /a/b/c model" {
		t.Fatalf("gRPC through the node: %q %v", got, err)
	}
	// The node's own services still answer on the same connection.
	if _, err := ptp.NewPrivateTransferTransportClient(cc).Peek(ctx, &ptp.PeekInbound{Topic: "t"}); status.Code(err) == codes.Unimplemented {
		t.Fatalf("the node's own gRPC service is shadowed: %v", err)
	}
	list := meshtest.Get(t, n.URL+"/v1/interconn/registry")
	if list.Code != ptp.OK || !strings.Contains(string(list.Content), "tensorserving") {
		t.Fatalf("registry list: %s", list.Body)
	}
}

// TestRegistryGRPCStreaming: a server-streaming and a bidirectional call
// pass through the node message by message.
func TestRegistryGRPCStreaming(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	rpc := meshtest.StartGRPCUpstream(t, "rpc")
	register(t, n, registration("testing", "i1", "/grpc.testing.TestService/", "grpc", "grpc", rpc.Addr, 0, ""), ptp.OK)
	ts := testgrpc.NewTestServiceClient(meshtest.Dial(t, n.Addr))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	res, err := ts.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("one")}})
	if err != nil || string(res.GetPayload().GetBody()) != "one" || res.GetHostname() != "rpc" {
		t.Fatalf("unary: %v %v", res, err)
	}
	sizes := []int32{1, 1 << 10, 1 << 20, 0, 7}
	var params []*testgrpc.ResponseParameters
	for _, s := range sizes {
		params = append(params, &testgrpc.ResponseParameters{Size: s})
	}
	ss, err := ts.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: params})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sizes {
		m, err := ss.Recv()
		if err != nil {
			t.Fatalf("server stream message %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte(i)}, int(s)); !bytes.Equal(m.GetPayload().GetBody(), want) {
			t.Fatalf("server stream message %d: %d bytes, want %d", i, len(m.GetPayload().GetBody()), s)
		}
	}
	if _, err := ss.Recv(); err != io.EOF {
		t.Fatalf("server stream end: %v", err)
	}

	bidi, err := ts.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // each answer comes before the next request is sent
		msg := []byte(fmt.Sprintf("frame %d", i))
		if err := bidi.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: msg}}); err != nil {
			t.Fatal(err)
		}
		m, err := bidi.Recv()
		if err != nil || !bytes.Equal(m.GetPayload().GetBody(), msg) {
			t.Fatalf("bidi frame %d: %q %v", i, m.GetPayload().GetBody(), err)
		}
	}
	if err := bidi.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := bidi.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v", err)
	}
}

// TestRegistryPartnerExposure: A's container reaches the service B exposes
// by naming B in x-ptp-target-node-id, over the partners' mTLS link, by
// HTTP, by invoke with x-ptp-uri, and by gRPC; a service B does not expose
// answers 614; a caller B has not woven with is refused.
func TestRegistryPartnerExposure(t *testing.T) {
	a, b := pair(t, nil)
	web, rpc := echoUpstream(t, "b-web"), meshtest.StartGRPCUpstream(t, "b-rpc")
	register(t, b, registration("open", "i1", "/open/*", "http", "Restful", hostPort(web), 4, ""), ptp.OK)
	register(t, b, registration("closed", "i1", "/closed", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	register(t, b, registration("rpc", "i1", "/open.Echo/", "grpc", "grpc", rpc.Addr, 0, `{"exposed":"true"}`), ptp.OK)
	toB := map[string]string{ptp.HeaderTargetNodeID: "node-b"}

	if code, body := fetch(t, nil, http.MethodPut, a.URL+"/open/models/1", toB, "weights"); code != 200 || body != "b-web PUT /open/models/1 weights" {
		t.Fatalf("A's container to B's exposed service: %d %q", code, body)
	}
	invoke := map[string]string{ptp.HeaderTargetNodeID: "node-b", ptp.HeaderURI: "/open/invoked"}
	if code, body := fetch(t, nil, http.MethodPost, a.URL+"/v1/interconn/chan/invoke", invoke, "x"); code != 200 || body != "b-web POST /open/invoked x" {
		t.Fatalf("invoke with x-ptp-uri to B's exposed service: %d %q", code, body)
	}
	code, body := fetch(t, nil, http.MethodGet, a.URL+"/closed", toB, "")
	if code != http.StatusForbidden || !strings.Contains(body, string(ptp.NotPermitted)) {
		t.Fatalf("B's unexposed service: %d %q", code, body)
	}
	// B's own containers reach it.
	if code, body := fetch(t, nil, http.MethodGet, b.URL+"/closed", nil, ""); code != 200 || body != "b-web GET /closed " {
		t.Fatalf("B's container to its own service: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	octx := metadata.AppendToOutgoingContext(ctx, ptp.HeaderTargetNodeID, "node-b")
	if got, err := echoCall(octx, meshtest.Dial(t, a.Addr), "/open.Echo/Say", "hi"); err != nil || got != "b-rpc /open.Echo/Say hi" {
		t.Fatalf("gRPC from A's container to B's exposed service: %q %v", got, err)
	}
	// A node B has not woven with, presenting its own certificate.
	stranger := newForger(t, "node-x")
	code, body = fetch(t, stranger.client("", false), http.MethodGet, "https://"+b.Addr+"/open/x", nil, "")
	if code == 200 || strings.Contains(body, "b-web") {
		t.Fatalf("an unwoven node reached B's exposed service: %d %q", code, body)
	}
	cc, err := grpc.NewClient(b.Addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		InsecureSkipVerify: true, Certificates: []tls.Certificate{stranger.cert}})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if got, err := echoCall(ctx, cc, "/open.Echo/Say", "hi"); err == nil {
		t.Fatalf("an unwoven node reached B's exposed gRPC service: %q", got)
	}
	// A partner name that is not woven.
	code, body = fetch(t, nil, http.MethodGet, a.URL+"/open/x", map[string]string{ptp.HeaderTargetNodeID: "node-z"}, "")
	if code == 200 || !strings.Contains(body, string(ptp.NotWoven)) {
		t.Fatalf("a container naming an unknown partner: %d %q", code, body)
	}
}

// TestRegistryRefusesBadRegistrations: what the registry refuses, with
// the field named, and that a refused registration routes nothing.
func TestRegistryRefusesBadRegistrations(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	web := echoUpstream(t, "web")
	addr := hostPort(web)
	for _, c := range []struct{ name, body, field string }{
		{"no instance_id", `{"name":"s","kind":"complex","address":"` + addr + `","content":{"services":[{"urn":"/s"}]}}`, "instance_id"},
		{"no content", `{"name":"s","kind":"complex","address":"` + addr + `","instance_id":"i"}`, "content"},
		{"bad urn", registration("s", "i", "s/no/slash", "http", "Restful", addr, 0, ""), "urn"},
		{"bad address", registration("s", "i", "/s", "http", "Restful", "no-port", 0, ""), "address"},
		{"shadows chan", registration("s", "i", "/v1/interconn/chan/push", "http", "Restful", addr, 0, ""), "urn"},
		{"shadows chan prefix", registration("s", "i", "/v1/interconn/*", "http", "Restful", addr, 0, ""), "urn"},
		{"shadows the PTP gRPC service", registration("s", "i", "/org.ppc.ptp.PrivateTransferTransport/", "grpc", "grpc", addr, 0, ""), "urn"},
		{"not JSON", `{"name":`, ""},
	} {
		r := register(t, n, c.body, ptp.BadRequest)
		if !strings.Contains(r.Message, c.field) {
			t.Errorf("%s: message %q does not name %q", c.name, r.Message, c.field)
		}
	}
	if code, _ := fetch(t, nil, http.MethodGet, n.URL+"/s", nil, ""); code != http.StatusNotFound {
		t.Fatalf("a refused registration routes: %d", code)
	}
	// An oversize body.
	big := registration("s", "i", "/s", "http", "Restful", addr, 0, `{"pad":"`+strings.Repeat("x", 4<<20)+`"}`)
	if r := meshtest.Post(t, n.URL, "/v1/interconn/registry/register", nil, big); r.Code != ptp.TooLarge && r.Code != ptp.BadRequest {
		t.Fatalf("oversize registration: %s", r.Body)
	}
}

// TestRegistryLoadBalancesAndExpires: two instances share the requests; an
// instance that never answered is listed unhealthy with a reason, not
// dropped; an expired registration stops routing.
func TestRegistryLoadBalancesAndExpires(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	one, two := echoUpstream(t, "one"), echoUpstream(t, "two")
	register(t, n, registration("lb", "i1", "/lb", "http", "Restful", hostPort(one), 0, ""), ptp.OK)
	register(t, n, registration("lb", "i2", "/lb", "http", "Restful", hostPort(two), 0, ""), ptp.OK)
	seen := map[string]int{}
	for range 20 {
		code, body := fetch(t, nil, http.MethodGet, n.URL+"/lb", nil, "")
		if code != 200 {
			t.Fatalf("GET /lb: %d %q", code, body)
		}
		seen[strings.Fields(body)[0]]++
	}
	if seen["one"] == 0 || seen["two"] == 0 {
		t.Fatalf("two instances, one served everything: %v", seen)
	}
	var stats api.Stats
	meshtest.Get(t, n.URL+"/stats").Decode(t, &stats)
	i := slices.IndexFunc(stats.Services, func(s proxy.RouteStats) bool { return s.Route == "http /lb" })
	if i < 0 || stats.Services[i].Requests != 20 || stats.Services[i].Errors != 0 || stats.Services[i].Healthy != 2 {
		t.Fatalf("/stats services after 20 calls over two instances: %+v", stats.Services)
	}
	// An instance at a port nobody listens on.
	dead := echoUpstream(t, "dead")
	deadAddr := hostPort(dead)
	dead.Close()
	register(t, n, registration("ghost", "g1", "/ghost", "http", "Restful", deadAddr, 0, `{"health_interval":"200ms","health_threshold":"1"}`), ptp.OK)
	meshtest.WaitFor(t, 10*time.Second, "the dead instance listed unhealthy", func() bool {
		l := meshtest.Get(t, n.URL+"/v1/interconn/registry")
		return strings.Contains(string(l.Content), "ghost") && strings.Contains(string(l.Content), `"healthy":false`)
	})
	code, body := fetch(t, nil, http.MethodGet, n.URL+"/ghost", nil, "")
	if code == 200 || !strings.Contains(body, string(ptp.NoProvider)) {
		t.Fatalf("a route with no healthy instance: %d %q", code, body)
	}
	// A registration valid for 1 s stops routing once it expires.
	short := strings.Replace(registration("short", "s1", "/short", "http", "Restful", hostPort(one), 0, ""), `"timestamp":300000`, `"timestamp":1000`, 1)
	register(t, n, short, ptp.OK)
	if code, _ := fetch(t, nil, http.MethodGet, n.URL+"/short", nil, ""); code != 200 {
		t.Fatalf("a fresh short registration does not route: %d", code)
	}
	meshtest.WaitFor(t, 10*time.Second, "the short registration to expire", func() bool {
		code, _ := fetch(t, nil, http.MethodGet, n.URL+"/short", nil, "")
		return code == http.StatusNotFound
	})
}

// TestRegistryRoutePluginOverridesRegisteredPath: a route handler plugin
// claiming a registered path answers it; the registry routes the rest.
func TestRegistryRoutePluginOverridesRegisteredPath(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	web := echoUpstream(t, "web")
	register(t, n, registration("svc", "i1", "/svc/*", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	n.Install(t, "override", plugintest.Build(t, "plugins/route"), map[string]string{"routes": "/svc/special=respond:200:from the plugin"},
		plugin.Options{Prefixes: []string{"/svc/special"}}, ptp.OK)
	if code, body := fetch(t, nil, http.MethodGet, n.URL+"/svc/special", nil, ""); code != 200 || body != "from the plugin" {
		t.Fatalf("the plugin's path: %d %q", code, body)
	}
	if code, body := fetch(t, nil, http.MethodGet, n.URL+"/svc/other", nil, ""); code != 200 || body != "web GET /svc/other " {
		t.Fatalf("the registry's path: %d %q", code, body)
	}
}

// TestRegistryHAReplicasRouteAlike: a registration made through one of
// three replicas routes through each of them.
func TestRegistryHAReplicasRouteAlike(t *testing.T) {
	urls := strings.Join(raceCluster(t), ",")
	var reps []*meshtest.Node
	for i := range 3 {
		reps = append(reps, meshtest.Start(t, host.Config{NATSURL: urls, Replicas: 3, Name: fmt.Sprintf("replica-%d", i)}))
	}
	web := echoUpstream(t, "web")
	register(t, reps[0], registration("ha", "i1", "/ha", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	for i, r := range reps {
		meshtest.WaitFor(t, 20*time.Second, fmt.Sprintf("replica %d to route /ha", i), func() bool {
			code, _ := fetch(t, nil, http.MethodGet, r.URL+"/ha", nil, "")
			return code == 200
		})
	}
	meshtest.Post(t, reps[1].URL, "/v1/interconn/registry/unregister", nil, map[string]string{"name": "ha", "instance_id": "i1"})
	for i, r := range reps {
		meshtest.WaitFor(t, 20*time.Second, fmt.Sprintf("replica %d to stop routing /ha", i), func() bool {
			code, _ := fetch(t, nil, http.MethodGet, r.URL+"/ha", nil, "")
			return code == http.StatusNotFound
		})
	}
}

// TestRegistryFailoverUnderLoad: with one of two instances killed in the
// middle of a run of idempotent requests, every request is answered (the
// ones that met the dead instance are retried on the other), the dead one
// is listed unhealthy with the reason, and once it is back it serves again.
func TestRegistryFailoverUnderLoad(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	one, two := echoUpstream(t, "one"), echoUpstream(t, "two")
	attrs := `{"health_interval":"200ms","health_threshold":"1"}`
	for i, s := range []*httptest.Server{one, two} {
		reg := registration("fo", fmt.Sprintf("i%d", i+1), "/fo", "http", "Restful", hostPort(s), 0, attrs)
		register(t, n, strings.Replace(reg, `"flags":0`, `"flags":0,"retries":2`, 1), ptp.OK)
	}
	twoAddr := hostPort(two)
	const total, killAt = 200, 60
	for i := range total {
		if i == killAt {
			two.Close()
		}
		if code, body := fetch(t, nil, http.MethodGet, n.URL+"/fo", nil, ""); code != 200 {
			t.Fatalf("request %d (instance two killed at %d): %d %q", i, killAt, code, body)
		}
	}
	meshtest.WaitFor(t, 10*time.Second, "the killed instance listed unhealthy", func() bool {
		return strings.Contains(string(meshtest.Get(t, n.URL+"/v1/interconn/registry").Content), `"healthy":false`)
	})
	back := httptest.NewUnstartedServer(two.Config.Handler)
	ln, err := net.Listen("tcp", twoAddr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", twoAddr, err)
	}
	back.Listener = ln
	back.Start()
	t.Cleanup(back.Close)
	meshtest.WaitFor(t, 20*time.Second, "the recovered instance to serve again", func() bool {
		_, body := fetch(t, nil, http.MethodGet, n.URL+"/fo", nil, "")
		return strings.HasPrefix(body, "two ")
	})
}

// TestRegistryStreams64MiBWithBoundedMemory: a 64 MiB upload and a 64 MiB
// download pass through the node byte-exact while the process's heap grows
// by far less than the body: the node streams, it does not buffer.
func TestRegistryStreams64MiBWithBoundedMemory(t *testing.T) {
	const size = 64 << 20
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.Copy(w, io.LimitReader(pattern{}, size))
	}))
	t.Cleanup(up.Close)
	n := meshtest.Start(t, host.Config{})
	register(t, n, registration("big", "i1", "/big", "http", "Restful", hostPort(up), 0, ""), ptp.OK)

	peak := watchHeap(t)
	h := sha256.New()
	_, _ = io.Copy(h, io.LimitReader(pattern{}, size))
	want := fmt.Sprintf("%d %x", size, h.Sum(nil))
	resp, err := http.Post(n.URL+"/big", "application/octet-stream", io.LimitReader(pattern{}, size))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != want {
		t.Fatalf("upload through the node: %q, want %q", got, want)
	}
	resp, err = http.Get(n.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	m, _ := io.Copy(h, resp.Body)
	resp.Body.Close()
	if fmt.Sprintf("%d %x", m, h.Sum(nil)) != want {
		t.Fatalf("download through the node: %d bytes, not the upstream's", m)
	}
	growth := peak()
	t.Logf("heap growth during 2 × 64 MiB through the node: %.1f MiB", float64(growth)/(1<<20))
	if growth > 32<<20 {
		t.Fatalf("the heap grew by %d MiB while 64 MiB bodies passed: the node buffers them", growth>>20)
	}
}

// pattern is an endless reader of a repeating byte pattern.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

// watchHeap samples the heap in use until the returned func is called,
// which stops the sampling and returns the largest growth seen.
func watchHeap(t testing.TB) func() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak {
				peak = ms.HeapInuse - base
			}
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

// TestRegistryAdmitsOnlyContainers: a caller with no partner certificate
// reaches a registered service only as an admitted container (from a
// container network, or with the container token), and the token is not
// passed on to a partner.
func TestRegistryAdmitsOnlyContainers(t *testing.T) {
	n := meshtest.Start(t, host.Config{ContainerNets: []string{"none"}, ContainerToken: "ct"})
	web := echoUpstream(t, "web")
	register(t, n, registration("svc", "i1", "/svc", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	code, body := fetch(t, nil, http.MethodGet, n.URL+"/svc", nil, "")
	if code != http.StatusForbidden || !strings.Contains(body, string(ptp.Unauthorized)) || strings.Contains(body, "web") {
		t.Fatalf("a caller not admitted as a container: %d %q", code, body)
	}
	if code, body := fetch(t, nil, http.MethodGet, n.URL+"/svc", map[string]string{"Authorization": "Bearer ct"}, ""); code != 200 {
		t.Fatalf("a container with the token: %d %q", code, body)
	}
	cc := meshtest.Dial(t, n.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := echoCall(ctx, cc, "/svc.Any/Call", "x"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a gRPC caller not admitted as a container: %v", err)
	}
}

// TestRegistryAuthPolicyGuardsServices: an auth policy plugin decides on
// proxied calls as on chan calls: without its token a container's call to a
// registered service is refused, with it the call goes through.
func TestRegistryAuthPolicyGuardsServices(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	web := echoUpstream(t, "web")
	register(t, n, registration("svc", "i1", "/svc", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	n.Install(t, "tokens", plugintest.Build(t, "plugins/token"), map[string]string{"tokens": "good-token"}, plugin.Options{}, ptp.OK)
	code, body := fetch(t, nil, http.MethodGet, n.URL+"/svc", nil, "")
	if code != http.StatusForbidden || strings.Contains(body, "web") {
		t.Fatalf("a call without the policy's token: %d %q", code, body)
	}
	if code, body := fetch(t, nil, http.MethodGet, n.URL+"/svc", map[string]string{ptp.HeaderToken: "good-token"}, ""); code != 200 {
		t.Fatalf("a call with the policy's token: %d %q", code, body)
	}
}

// TestRegistryRefusesRoutingLoop: an instance registered at the node's own
// address sends the node's forward back to it, which answers E0000000503
// at once rather than calling itself until the deadline.
func TestRegistryRefusesRoutingLoop(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	register(t, n, registration("loop", "i1", "/loop", "http", "Restful", n.Addr, 0, ""), ptp.OK)
	register(t, n, registration("gloop", "i1", "/loop.Svc/", "grpc", "grpc", n.Addr, 0, ""), ptp.OK)
	code, body := fetch(t, nil, http.MethodGet, n.URL+"/loop", nil, "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, string(ptp.RoutingLoop)) {
		t.Fatalf("a route pointing at the node itself: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := echoCall(ctx, meshtest.Dial(t, n.Addr), "/loop.Svc/Call", "x"); err == nil || !strings.Contains(err.Error(), string(ptp.RoutingLoop)) {
		t.Fatalf("a gRPC route pointing at the node itself: %v", err)
	}
}

// headerUpstream answers with the headers the node passed on.
func headerUpstream(t testing.TB) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved/from" {
			http.Redirect(w, r, "/moved/to", http.StatusFound)
			return
		}
		fmt.Fprintf(w, "auth=%q source=%q from=%q", r.Header.Get("Authorization"),
			r.Header.Get(ptp.HeaderSourceNodeID), r.Header.Get(ptp.HeaderFromNodeID))
	}))
	t.Cleanup(s.Close)
	return s
}

// TestRegistryPassesOnOnlyWhatItKnows: an upstream, here or at a partner,
// never gets this node's container token, and learns the caller's node
// from the node (the partner's certificate, else this node), never from
// what the caller claimed. A partner's redirect reaches the caller as the
// partner sent it.
func TestRegistryPassesOnOnlyWhatItKnows(t *testing.T) {
	a := meshtest.Start(t, host.Config{ContainerNets: []string{"none"}, ContainerToken: "ct"})
	b := meshtest.Start(t, host.Config{})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	up := headerUpstream(t)
	register(t, a, registration("h", "i1", "/h", "http", "Restful", hostPort(up), 0, ""), ptp.OK)
	register(t, b, registration("h", "i1", "/h", "http", "Restful", hostPort(up), 4, ""), ptp.OK)
	register(t, b, registration("moved", "i1", "/moved/*", "http", "Restful", hostPort(up), 4, ""), ptp.OK)
	claims := map[string]string{"Authorization": "Bearer ct", ptp.HeaderSourceNodeID: "node-z", ptp.HeaderFromNodeID: "node-z"}
	if code, body := fetch(t, nil, http.MethodGet, a.URL+"/h", claims, ""); code != 200 || body != `auth="" source="node-a" from=""` {
		t.Fatalf("a container's call to this node's service passed on: %d %s", code, body)
	}
	toB := map[string]string{"Authorization": "Bearer ct", ptp.HeaderTargetNodeID: "node-b"}
	if code, body := fetch(t, nil, http.MethodGet, a.URL+"/h", toB, ""); code != 200 || body != `auth="" source="node-a" from=""` {
		t.Fatalf("a container's call to the partner's service passed on: %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/moved/from", nil)
	req.Header.Set(ptp.HeaderTargetNodeID, "node-b")
	req.Header.Set("Authorization", "Bearer ct")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/moved/to" {
		t.Fatalf("the partner's redirect: %d %q, want it passed back as sent", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestRegistryKeepsNodePathsToTheNode: a node path in a form the router
// does not take (percent-encoded), or named by an invoke's x-ptp-uri, is
// never carried to a partner, whose own endpoints (the weave handshake)
// it would reach with this node's certificate.
func TestRegistryKeepsNodePathsToTheNode(t *testing.T) {
	a, b := pair(t, nil)
	web := echoUpstream(t, "b-web")
	register(t, b, registration("all", "i1", "/open/*", "http", "Restful", hostPort(web), 4, ""), ptp.OK)
	toB := map[string]string{ptp.HeaderTargetNodeID: "node-b"}
	for _, path := range []string{"/v1/interconn/net/%63onfirm", "/v1/interconn/%6Eet/hello", "/stats/", "/healthz/x"} {
		code, body := fetch(t, nil, http.MethodPost, a.URL+path, toB, `{}`)
		// Refused here: not found, or a node route's own refusal; never B's answer.
		if code != http.StatusNotFound && code != http.StatusBadRequest {
			t.Errorf("POST %s to node-b: %d %s", path, code, body)
		}
	}
	for _, path := range []string{"/open/..%2Fclosed", "/open/%2e%2e/closed", "/open/a%5Cb"} {
		if code, body := fetch(t, nil, http.MethodGet, a.URL+path, toB, ""); code != http.StatusBadRequest {
			t.Errorf("GET %s to node-b: %d %s, want 400 (an encoded separator)", path, code, body)
		}
	}
	invoke := map[string]string{ptp.HeaderTargetNodeID: "node-b", ptp.HeaderURI: "/v1/interconn/net/confirm"}
	code, body := fetch(t, nil, http.MethodPost, a.URL+"/v1/interconn/chan/invoke", invoke, `{}`)
	if strings.Contains(body, "confirmed") || code == 200 || strings.Contains(body, string(ptp.CertificateError)) {
		t.Fatalf("an invoke naming B's weave endpoint reached it: %d %s", code, body)
	}
}

// TestRegistryPlaintextPartnerByFATEAlias: a plaintext partner naming
// itself in FATE's x-ptp-from-node-id is that partner, not a container of
// this node: it reaches only what is exposed to it.
func TestRegistryPlaintextPartnerByFATEAlias(t *testing.T) {
	_, b := pair(t, nil)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)
	web := echoUpstream(t, "b-web")
	register(t, b, registration("closed", "i1", "/closed", "http", "Restful", hostPort(web), 0, ""), ptp.OK)
	for _, h := range []string{ptp.HeaderSourceNodeID, ptp.HeaderFromNodeID} {
		code, body := fetch(t, nil, http.MethodGet, b.URL+"/closed", map[string]string{h: "node-a"}, "")
		if code != http.StatusForbidden || !strings.Contains(body, string(ptp.NotPermitted)) {
			t.Errorf("plaintext partner naming itself in %s: %d %s", h, code, body)
		}
	}
}
