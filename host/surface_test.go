//lint:file-ignore SA1019 these tests speak h2c with prior knowledge and custom dialling through x/net/http2 on purpose.

package host_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The whole-surface robustness suite (issue 13): every HTTP and gRPC
// endpoint of a node, called by a container and by a woven partner with
// oversized, empty, binary and malformed headers, bodies, paths and
// metadata. Afterwards the node must still serve, still be the node it was,
// and still hold every message pushed before the barrage, byte for byte.

// surfaceLimit is B's message limit: small, so that "over the cap" is cheap.
const surfaceLimit = 1 << 20

// surfaceEndpoint is one HTTP endpoint of the node.
type surfaceEndpoint struct {
	method, path string
}

// heavyTargets are the endpoints, one per handler family, that also get
// the heavy mutations.
var heavyTargets = map[string]bool{"/stats": true, "/v1/interconn/chan/push": true, "/v1/interconn/chan/invoke": true,
	"/v1/interconn/node/refresh": true, "/v1/interconn/net/refresh": true, "/v1/interconn/net/hello": true,
	"/v1/interconn/plugin/install": true, "/v1/interconn/registry/register": true, "/some/route/plugin/path": true}

// surfaceEndpoints lists every HTTP route the node serves (host/api
// handler.go, net.go, plugin.go), plus paths no route claims, which the
// route-handler plugin lookup sees first.
func surfaceEndpoints() []surfaceEndpoint {
	var es []surfaceEndpoint
	for _, p := range []string{"/stats", "/healthz", "/v1/interconn/node", "/v1/interconn/net",
		"/v1/interconn/net/node-a", "/v1/interconn/plugin", "/v1/interconn/plugin/none", "/v1/interconn/registry",
		"/debug/pprof/", "/panel/"} {
		es = append(es, surfaceEndpoint{http.MethodGet, p}, surfaceEndpoint{http.MethodHead, p})
	}
	for _, p := range []string{"push", "pop", "peek", "release", "invoke", "transport"} {
		es = append(es, surfaceEndpoint{http.MethodPost, "/v1/interconn/chan/" + p})
	}
	for _, p := range []string{"node/refresh", "net/refresh", "net/weave", "net/ack", "net/remove",
		"net/disable", "net/enable", "net/hello", "net/reveal", "net/confirm",
		"plugin/install", "plugin/remove", "plugin/enable", "plugin/disable", "registry/register", "registry/unregister"} {
		es = append(es, surfaceEndpoint{http.MethodPost, "/v1/interconn/" + p})
	}
	return append(es, surfaceEndpoint{http.MethodPost, "/org.ppc.ptp.PrivateTransferTransport/push"},
		surfaceEndpoint{http.MethodPost, "/some/route/plugin/path"}, surfaceEndpoint{http.MethodPut, "/v1/interconn/chan/push"})
}

// mutation changes a well-formed request into a hostile one.
type mutation struct {
	name string
	// big marks mutations the transport may refuse before the handler sees
	// them (a header over the server's limit): a closed connection is fine.
	big bool
	// heavy marks the costly mutations (megabytes each): they are sent to
	// one endpoint of each handler family, not to all.
	heavy bool
	apply func(req *http.Request)
}

// long is n bytes of s repeated.
func long(s string, n int) string { return strings.Repeat(s, n/len(s)+1)[:n] }

// setBody replaces req's body.
func setBody(req *http.Request, ctype string, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
}

// truncatedGzip is the first half of a gzip stream of a valid push body.
func truncatedGzip() []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(`{"topic":"t","payload":"` + long("aGVsbG8g", 4096) + `"}`))
	_ = zw.Close()
	return b.Bytes()[:b.Len()/2]
}

// grpcFrame is a gRPC length-prefixed message; compressed sets the flag.
func grpcFrame(compressed bool, msg []byte) []byte {
	flag := byte(0)
	if compressed {
		flag = 1
	}
	return append(binary.BigEndian.AppendUint32([]byte{flag}, uint32(len(msg))), msg...)
}

// surfaceMutations are the hostile variants of every request. Every body is
// refused by every endpoint's decoder, so that no control call from the
// loopback container (an operator) can rename the node or change a route.
func surfaceMutations(rng *rand.Rand) []mutation {
	binaryBody := make([]byte, 4096)
	for i := range binaryBody {
		binaryBody[i] = byte(rng.UintN(256))
	}
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	allHeaders := func(v string) func(*http.Request) {
		return func(req *http.Request) {
			for _, h := range []string{ptp.HeaderVersion, ptp.HeaderTechProviderCode, ptp.HeaderTraceID, ptp.HeaderToken,
				ptp.HeaderURI, ptp.HeaderSessionID, ptp.HeaderSourceNodeID, ptp.HeaderTargetNodeID, ptp.HeaderSourceInstID,
				ptp.HeaderTargetInstID, ptp.HeaderTopic, ptp.HeaderFromNodeID, ptp.HeaderCodec, ptp.HeaderMessageID} {
				req.Header.Set(h, v)
			}
		}
	}
	header := func(k, v string) func(*http.Request) { return func(req *http.Request) { req.Header.Set(k, v) } }
	body := func(ctype string, b []byte) func(*http.Request) {
		return func(req *http.Request) { setBody(req, ctype, b) }
	}
	return []mutation{
		{name: "empty body", apply: body("", nil)},
		{name: "binary body", apply: body("application/json", binaryBody)},
		{name: "binary body as octet-stream", apply: body("application/octet-stream", binaryBody)},
		{name: "truncated json", apply: body("application/json", []byte(`{"topic":"t","payload":`))},
		{name: "json array", apply: body("application/json", []byte(`[1,2,3]`))},
		{name: "json null", apply: body("application/json", []byte(`null`))},
		{name: "invalid utf-8 and nul", apply: body("application/json", []byte("{\"topic\":\"t\x00\xff\xfe\",\"node_id\":7,\"payload\":\"aGk=\"}"))},
		{name: "huge json number", apply: body("application/json", []byte(`{"topic":"t","timeout":1e400,"node_id":123456789012345678901234567890}`))},
		{name: "huge integer timeout", apply: body("application/json", []byte(`{"topic":"t","timeout":123456789012345678901234567890,"node_id":[]}`))},
		{name: "deeply nested json", heavy: true, apply: body("application/json", []byte(deep))},
		{name: "body over the cap", heavy: true, apply: body("application/json", append([]byte(`{"topic":"`), bytes.Repeat([]byte("x"), surfaceLimit+4096)...))},
		{name: "truncated gzip", apply: func(req *http.Request) {
			setBody(req, "application/json", truncatedGzip())
			req.Header.Set("Content-Encoding", "gzip")
		}},
		{name: "grpc content type over http/1.1", apply: body("application/grpc", grpcFrame(false, binaryBody[:64]))},
		{name: "grpc frame with truncated gzip", apply: func(req *http.Request) {
			setBody(req, "application/grpc+proto", grpcFrame(true, truncatedGzip()))
			req.Header.Set("Grpc-Encoding", "gzip")
		}},
		{name: "protobuf content type garbage", apply: body("application/x-protobuf", binaryBody[:512])},
		{name: "multipart garbage", apply: body("multipart/form-data; boundary=", []byte("--\r\n\r\n"))},
		{name: "wrong content type", apply: body("text/html; charset=\xff", []byte(`<p>`))},
		{name: "4100-byte session id", apply: header(ptp.HeaderSessionID, long("s", 4100))},
		{name: "4100-byte topic header", apply: header(ptp.HeaderTopic, long("t", 4100))},
		{name: "4100-byte every ptp header", apply: allHeaders(long("h", 4100))},
		{name: "obs-text in every ptp header", apply: allHeaders("\xff\xfe\x80 sess\xc3")},
		{name: "timeout header garbage", apply: header(ptp.HeaderTimeout, "99999999999999999999999")},
		{name: "negative timeout header", apply: header(ptp.HeaderTimeout, "-9223372036854775808")},
		{name: "uri header hostile", apply: header(ptp.HeaderURI, "grpcs://%zz/"+long("../", 3000))},
		{name: "authorization garbage", apply: header("Authorization", "Bearer "+long("\xff", 2048))},
		{name: "accept garbage", apply: header("Accept", long("application/octet-stream;q=", 8192))},
		{name: "many headers", apply: func(req *http.Request) {
			for i := range 500 {
				req.Header.Set(fmt.Sprintf("x-junk-%d", i), long("j", 100))
			}
		}},
		{name: "multi-MiB header", big: true, heavy: true, apply: header(ptp.HeaderTraceID, long("m", 3<<20))},
		{name: "path with nul", apply: func(req *http.Request) { req.URL.Path += "\x00" }},
		{name: "path with invalid utf-8", apply: func(req *http.Request) { req.URL.Path += "/\xff\xfe" }},
		{name: "path 4100 bytes", apply: func(req *http.Request) { req.URL.Path += "/" + long("p", 4100) }},
		{name: "path traversal", apply: func(req *http.Request) { req.URL.Path = "/v1/interconn/chan/../../.." + req.URL.Path }},
		{name: "query garbage", apply: func(req *http.Request) { req.URL.RawQuery = long("%zz&=", 4096) }},
	}
}

// outcome is what one hostile request got.
type outcome struct {
	name    string
	status  int
	code    string
	message string
	err     error
}

// finding says what is wrong with o, or "" when it is an acceptable answer:
// any 4xx/2xx with a body, or a closed connection for a request the
// transport may refuse; never a 5xx, a hang or a reply with code 500.
func (o outcome) finding(big bool) string {
	switch {
	case o.err != nil && big:
		return ""
	case o.err != nil:
		return fmt.Sprintf("%s: %v", o.name, o.err)
	case o.status >= 500 || o.code == string(ptp.SystemError):
		return fmt.Sprintf("%s: status %d code %s: %s", o.name, o.status, o.code, o.message)
	}
	return ""
}

// summary is o's status and code, or "error" when there was no answer.
func (o outcome) summary() string {
	if o.err != nil {
		return "error"
	}
	return fmt.Sprintf("%d %s", o.status, o.code)
}

// fire sends req through hc and records what came back.
func fire(hc *http.Client, name string, req *http.Request) outcome {
	resp, err := hc.Do(req)
	if err != nil {
		return outcome{name: name, err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var r struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &r)
	if r.Code == "" {
		r.Code = resp.Header.Get(ptp.HeaderCode)
	}
	return outcome{name: name, status: resp.StatusCode, code: r.Code, message: r.Message}
}

// baseRequest is a well-formed request of e: a push body, a session and a
// short timeout, so that no pop made valid by chance waits long.
func baseRequest(t *testing.T, base, session string, e surfaceEndpoint) *http.Request {
	t.Helper()
	req, err := http.NewRequest(e.method, base+e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	setBody(req, "application/json", []byte(`{"topic":"t","payload":"aGk=","timeout":1}`))
	req.Header.Set(ptp.HeaderSessionID, session)
	req.Header.Set(ptp.HeaderTimeout, "1")
	return req
}

// barrageHTTP sends every mutation of every endpoint through hc, on four
// goroutines, and returns the findings. Each barrage has its own session,
// which one barrage's releases do not close to the next.
func barrageHTTP(t *testing.T, hc *http.Client, base, who string) (sent int, findings []string) {
	t.Helper()
	type job struct {
		name  string
		big   bool
		probe bool // a health probe: 503 "not ready" under load is its job
		req   *http.Request
	}
	var jobs []job
	mutations := surfaceMutations(rand.New(rand.NewPCG(1, 2)))
	for _, e := range surfaceEndpoints() {
		for _, m := range mutations {
			if m.heavy && (!heavyTargets[e.path] || e.method == http.MethodHead) {
				continue
			}
			req := baseRequest(t, base, "barrage-"+strings.Fields(who)[0]+"-"+strings.Fields(who)[1], e)
			m.apply(req)
			probe := e.path == "/stats" || e.path == "/healthz"
			jobs = append(jobs, job{fmt.Sprintf("%s %s %s [%s]", who, e.method, e.path, m.name), m.big, probe, req})
		}
	}
	var mu sync.Mutex
	answers := map[string]int{}
	defer func() { t.Logf("%s answers (status code: count): %v", who, answers) }()
	work := make(chan job)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				began := time.Now()
				o := fire(hc, j.name, j.req)
				if d := time.Since(began); d > 2*time.Second {
					t.Logf("slow: %s took %v (%v)", j.name, d.Round(time.Millisecond), o.err)
				}
				mu.Lock()
				answers[o.summary()]++
				if j.probe && o.status == http.StatusServiceUnavailable {
					t.Logf("note: %s: not ready during the barrage: %s", j.name, o.message)
				} else if f := o.finding(j.big); f != "" {
					findings = append(findings, f)
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	return len(jobs), findings
}

// surfaceNodes starts A, identified with a root the test holds, and B with
// a small message limit, woven: the test can act as A's node with A's own
// credentials.
func surfaceNodes(t *testing.T) (a, b *meshtest.Node, aRoot pki.KeyPair) {
	t.Helper()
	aRoot, err := pki.NewRoot("node-a root")
	if err != nil {
		t.Fatal(err)
	}
	a, b = meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{MaxMessage: surfaceLimit})
	a.Control(t, "/v1/interconn/node/refresh", map[string]string{"node_id": "node-a", "inst_id": "inst-a",
		"root_crt": string(aRoot.CertPEM), "root_key": string(aRoot.KeyPEM)}, ptp.OK)
	a.ID, a.Inst = "node-a", "inst-a"
	b.Identify(t, "node-b", "inst-b")
	meshtest.Weave(t, a, b, nil)
	return a, b, aRoot
}

// partnerTLS is a TLS config that presents a certificate of node id issued
// by root and trusts only b's root.
func partnerTLS(t *testing.T, b *meshtest.Node, root pki.KeyPair, id string) *tls.Config {
	t.Helper()
	kp, err := pki.Issue(root, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(b.Public(t).RootCrt))
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: b.ID}
}

// partnerHTTP is an HTTP/2 client over mTLS with node-a's credentials.
func partnerHTTP(t *testing.T, b *meshtest.Node, root pki.KeyPair) *http.Client {
	tr := &http.Transport{TLSClientConfig: partnerTLS(t, b, root, "node-a"), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// kept is a message pushed before the barrage, to be found after it.
type kept struct {
	topic   string
	payload []byte
}

// pushKept pushes messages to session "keep" on b: from b's container over
// HTTP (JSON and raw) and gRPC, and from a's container through the woven
// link; each topic's messages in order.
func pushKept(t *testing.T, a, b *meshtest.Node, rng *rand.Rand) []kept {
	t.Helper()
	clients := map[string]meshtest.Client{
		"json":  &meshtest.HTTPClient{URL: b.URL, Session: "keep"},
		"raw":   &meshtest.HTTPClient{URL: b.URL, Session: "keep", Raw: true},
		"grpc":  meshtest.NewGRPCClient(meshtest.Dial(t, b.Addr), "keep"),
		"via-a": &meshtest.HTTPClient{URL: a.URL, Session: "keep", Target: b.ID},
	}
	var ks []kept
	for _, name := range []string{"json", "raw", "grpc", "via-a"} {
		for range 5 {
			p := make([]byte, 1+rng.IntN(64<<10))
			for j := range p {
				p[j] = byte(rng.UintN(256))
			}
			p[0] = 0 // a NUL first byte, as binary tensors often have
			mustPush(t, clients[name], "k-"+name, p)
			ks = append(ks, kept{"k-" + name, p})
		}
	}
	return ks
}

// checkKept pops every kept message from b, byte-exact and in order, and
// finds nothing more behind them.
func checkKept(t *testing.T, b *meshtest.Node, ks []kept) {
	t.Helper()
	c := &meshtest.HTTPClient{URL: b.URL, Session: "keep", Raw: true}
	for i, k := range ks {
		got, code, err := c.Pop(t.Context(), k.topic, 5000)
		if code != ptp.OK || !bytes.Equal(got, k.payload) {
			t.Fatalf("kept message %d of %s: %s %v, %d bytes, want %d bytes byte-exact", i, k.topic, code, err, len(got), len(k.payload))
		}
	}
	for _, topic := range []string{"k-json", "k-raw", "k-grpc", "k-via-a", "t"} {
		if got, code, _ := c.Peek(t.Context(), topic); code != ptp.OK || len(got) != 0 {
			t.Fatalf("session keep, topic %s: an extra message after the barrage (%s, %d bytes)", topic, code, len(got))
		}
	}
}

// h2cClient is a container's plaintext HTTP/2 client (prior knowledge),
// its connections closed when the test ends.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 20 * time.Second, Transport: tr}
}

// TestWholeSurfaceBarrage drives every HTTP and gRPC endpoint of a node,
// as its container and as a woven partner, with hostile input; then the node
// must still serve a push and pop, still be node-b woven with node-a, answer
// its health probes, and hold every message pushed before, byte-exact.
func TestWholeSurfaceBarrage(t *testing.T) {
	a, b, aRoot := surfaceNodes(t)
	rng := rand.New(rand.NewPCG(13, 13))
	ks := pushKept(t, a, b, rng)
	container := &http.Client{Timeout: 20 * time.Second}
	partner := partnerHTTP(t, b, aRoot)
	start, total := time.Now(), 0
	var findings []string
	phase := time.Now()
	run := func(n int, f []string) {
		t.Logf("%d requests in %v", n, time.Since(phase).Round(time.Millisecond))
		phase, total, findings = time.Now(), total+n, append(findings, f...)
	}
	run(barrageHTTP(t, container, b.URL, "container http/1.1"))
	run(barrageHTTP(t, h2cClient(t), b.URL, "container h2c"))
	run(barrageHTTP(t, partner, "https://"+b.Addr, "partner h2"))
	cc, pc := meshtest.Dial(t, b.Addr), partnerConn(t, b, aRoot)
	run(barrageGRPC(t, cc, "container grpc"))
	run(barrageGRPC(t, pc, "partner grpc"))
	run(barrageStream(t, cc, "container"))
	run(barrageStream(t, pc, "partner"))
	run(barrageRaw(t, b.Addr, partnerTLS(t, b, aRoot, "node-a")))
	t.Logf("%d hostile requests in %v, %d findings", total, time.Since(start).Round(time.Millisecond), len(findings))
	for _, f := range findings {
		t.Errorf("finding: %s", f)
	}
	expectSurvived(t, a, b)
	checkKept(t, b, ks)
}

// expectSurvived checks that b still serves, is still node-b, is still
// woven with a both ways, and answers its health probes with 200.
func expectSurvived(t *testing.T, a, b *meshtest.Node) {
	t.Helper()
	expectServing(t, b)
	if p := b.Public(t); p.NodeID != "node-b" || p.InstID != "inst-b" {
		t.Fatalf("the barrage changed the node's identity: %+v", p)
	}
	if sa, sb := a.RouteState(t, b.ID), b.RouteState(t, a.ID); sa != "woven" || sb != "woven" {
		t.Fatalf("the barrage changed the routes: a→b %q, b→a %q", sa, sb)
	}
	for _, p := range []string{"/stats", "/healthz"} {
		meshtest.WaitFor(t, 20*time.Second, p+" ready after the barrage", func() bool {
			_, err := httpGet(b.URL + p)
			return err == nil
		})
	}
	across := &meshtest.HTTPClient{URL: a.URL, Session: "after", Target: b.ID}
	mustPush(t, across, "t", []byte("still woven"))
	if got := mustPop(t, &meshtest.HTTPClient{URL: b.URL, Session: "after"}, "t"); string(got) != "still woven" {
		t.Fatalf("a partner push after the barrage: %q", got)
	}
}
