package host_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// compressions records the compression of each reply a client receives.
type compressions struct {
	mu  sync.Mutex
	got []string
}

func (c *compressions) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *compressions) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *compressions) HandleConn(context.Context, stats.ConnStats) {}
func (c *compressions) HandleRPC(_ context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok && h.Client {
		c.mu.Lock()
		c.got = append(c.got, h.Compression)
		c.mu.Unlock()
	}
}

func (c *compressions) all(want string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.got {
		if g != want {
			return false
		}
	}
	return len(c.got) > 0
}

// gzipClient dials n as the older Mesh's clients do: every call gzip.
func gzipClient(t *testing.T, n *meshtest.Node) (*grpc.ClientConn, *compressions) {
	rec := &compressions{}
	cc, err := grpc.NewClient(n.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(rec),
		grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name), grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc, rec
}

func ptpCtx(kv ...string) context.Context {
	return metadata.NewOutgoingContext(context.Background(), metadata.Pairs(kv...))
}

func wantOK(t *testing.T, what, code string, err error) {
	t.Helper()
	if err != nil || code != string(ptp.OK) {
		t.Fatalf("%s: %s %v", what, code, err)
	}
}

// TestDialectInboundGzipGRPC speaks the older Mesh's clients: every
// container call and invoke gzip-compressed, 10 MiB included; each reply
// comes back gzip-compressed too.
func TestDialectInboundGzipGRPC(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc, rec := gzipClient(t, n)
	tr := ptp.NewPrivateTransferTransportClient(cc)
	ctx := ptpCtx(ptp.HeaderSessionID, "gz")
	big := bytes.Repeat([]byte("0123456789abcdef"), 10<<20/16)
	for _, p := range [][]byte{[]byte("small"), big} {
		out, err := tr.Push(ctx, &ptp.PushInbound{Topic: "a", Payload: p})
		wantOK(t, "push", out.GetCode(), err)
		out, err = tr.Peek(ctx, &ptp.PeekInbound{Topic: "a"})
		wantOK(t, "peek", out.GetCode(), err)
		out, err = tr.Pop(ctx, &ptp.PopInbound{Topic: "a", Timeout: 5000})
		wantOK(t, "pop", out.GetCode(), err)
		if !bytes.Equal(out.Payload, p) {
			t.Fatalf("popped %d bytes, pushed %d", len(out.Payload), len(p))
		}
	}
	pr := ptp.NewPrivateTransferProtocolClient(cc)
	push, _ := proto.Marshal(&ptp.PushInbound{Topic: "inv", Payload: big})
	out, err := pr.Invoke(ptpCtx(ptp.HeaderSessionID, "gz", ptp.HeaderURI, "/org.ppc.ptp.PrivateTransferTransport/push"), &ptp.Inbound{Payload: push})
	wantOK(t, "invoke push", out.GetCode(), err)
	pop, _ := proto.Marshal(&ptp.PopInbound{Topic: "inv", Timeout: 5000})
	out, err = pr.Invoke(ptpCtx(ptp.HeaderSessionID, "gz", ptp.HeaderURI, "/org.ppc.ptp.PrivateTransferTransport/pop"), &ptp.Inbound{Payload: pop})
	wantOK(t, "invoke pop", out.GetCode(), err)
	if !bytes.Equal(out.Payload, big) {
		t.Fatalf("invoke pop: %d bytes", len(out.Payload))
	}
	r, err := tr.Release(ctx, &ptp.ReleaseInbound{Topic: "a"})
	wantOK(t, "release", r.GetCode(), err)
	if !rec.all(gzip.Name) {
		t.Fatalf("replies not gzip-compressed: %v", rec.got)
	}
}

// TestDialectInboundOlderMeshGRPC replays the older Mesh node's gRPC
// delivery byte for byte (headers in gRPC metadata, PushInbound payload,
// gzip), with and without x-ptp-topic: the message pops byte-exact, and a
// PushInbound naming another topic than the header is refused, not stored.
func TestDialectInboundOlderMeshGRPC(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	n.Identify(t, "LX0000010000030", "JG0100000100000030")
	cc, _ := gzipClient(t, n)
	pb, _ := hex.DecodeString("0a02743512107769746820782d7074702d746f706963")
	pr := ptp.NewPrivateTransferProtocolClient(cc)
	base := []string{ptp.HeaderURI, "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderSessionID, "s5",
		ptp.HeaderSourceNodeID, "LX0000010000010", ptp.HeaderTargetNodeID, "LX0000010000030"}
	for _, extra := range [][]string{nil, {ptp.HeaderTopic, "t5"}} {
		out, err := pr.Invoke(ptpCtx(append(base, extra...)...), &ptp.Inbound{Payload: pb})
		wantOK(t, "older mesh invoke", out.GetCode(), err)
		if got := mustPop(t, meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "s5"), "t5"); string(got) != "with x-ptp-topic" {
			t.Fatalf("popped %q (% x)", got, got)
		}
	}
	out, err := pr.Invoke(ptpCtx(append(base, ptp.HeaderTopic, "t6")...), &ptp.Inbound{Payload: pb})
	if err != nil || out.Code != string(ptp.BadRequest) || !strings.Contains(out.Message, `"t5"`) {
		t.Fatalf("topic mismatch: %v %v", out, err)
	}
	raw, err := pr.Invoke(ptpCtx(append(base, ptp.HeaderTopic, "t6")...), &ptp.Inbound{Payload: []byte("raw bytes, no marker")})
	if err != nil || raw.Code != string(ptp.BadRequest) {
		t.Fatalf("unmarked raw payload under a gRPC-form uri: %v %v", raw, err)
	}
	peek, err := ptp.NewPrivateTransferTransportClient(cc).Peek(ptpCtx(ptp.HeaderSessionID, "s5"), &ptp.PeekInbound{Topic: "t6"})
	if err != nil || len(peek.Payload) != 0 {
		t.Fatalf("a refused delivery was stored: %q %v", peek.GetPayload(), err)
	}
}

// TestDialectInboundOlderMeshHTTP replays the captured HTTP delivery of
// the older Mesh (api/testdata/oldmesh-http-invoke.json) byte for byte.
func TestDialectInboundOlderMeshHTTP(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	n.Identify(t, "LX0000010000030", "JG0100000100000030")
	var c struct {
		Method, Path string
		Headers      map[string]string
		Body         string
	}
	b, err := os.ReadFile("api/testdata/oldmesh-http-invoke.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	for _, topicHeader := range []string{"", "t2h"} {
		req, _ := http.NewRequest(c.Method, n.URL+c.Path, strings.NewReader(c.Body))
		for k, v := range c.Headers {
			if k != "Content-Length" && k != "Accept-Encoding" {
				req.Header.Set(k, v)
			}
		}
		if topicHeader != "" {
			req.Header.Set(ptp.HeaderTopic, topicHeader)
		}
		if rep := meshtest.Do(t, http.DefaultClient, req); rep.Code != ptp.OK {
			t.Fatalf("older mesh http invoke (x-ptp-topic %q): %s %s", topicHeader, rep.Code, rep.Message)
		}
		if got := mustPop(t, meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "s2h"), "t2h"); string(got) != "hello via http" {
			t.Fatalf("popped %q", got)
		}
	}
}

// TestDialectInboundFate speaks FATE's OSX client over gRPC: its shipped
// pop timeout of 36,000,000 ms is clamped (told once), not refused, and a
// pop that times out answers E0000000601 as FATE's broker does — to FATE
// only; other callers keep the empty success.
func TestDialectInboundFate(t *testing.T) {
	logs := &meshtest.Log{}
	n := meshtest.Start(t, host.Config{MaxPopWait: 300 * time.Millisecond, Logger: logs.Logger()})
	n.Identify(t, "9999", "9999")
	tr := ptp.NewPrivateTransferTransportClient(meshtest.Dial(t, n.Addr))
	fate := ptpCtx(ptp.HeaderSessionID, "202612011200_fate", ptp.HeaderTargetNodeID, "9999", ptp.HeaderFromNodeID, "10000",
		ptp.HeaderTechProviderCode, "FATE", ptp.HeaderTraceID, "trace-1")
	out, err := tr.Push(fate, &ptp.PushInbound{Topic: "rsa#0", Payload: []byte(`{"k":1}`)})
	wantOK(t, "fate push", out.GetCode(), err)
	out, err = tr.Pop(fate, &ptp.PopInbound{Topic: "rsa#0", Timeout: 36_000_000})
	wantOK(t, "fate pop 36,000,000 ms", out.GetCode(), err)
	if string(out.Payload) != `{"k":1}` {
		t.Fatalf("popped %q", out.Payload)
	}
	out, err = tr.Pop(fate, &ptp.PopInbound{Topic: "rsa#0", Timeout: 36_000_000})
	if err != nil || out.Code != string(ptp.Timeout) {
		t.Fatalf("fate pop timing out: %v %v", out, err)
	}
	other := ptpCtx(ptp.HeaderSessionID, "202612011200_fate")
	out, err = tr.Pop(other, &ptp.PopInbound{Topic: "rsa#0", Timeout: 36_000_000})
	wantOK(t, "non-fate pop timing out", out.GetCode(), err)
	if n := logs.Count("pop timeout clamped"); n != 2 { // once for FATE, once for the other provider
		t.Fatalf("clamp told %d times:\n%s", n, logs.String())
	}
}

// kusciaReply decodes Kuscia's TransportOutbound{payload=1, code=2, message=3}.
func kusciaReply(t *testing.T, b []byte) (payload []byte, code, msg string) {
	t.Helper()
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.BytesType {
			t.Fatalf("not a Kuscia TransportOutbound: % x", b)
		}
		v, m := protowire.ConsumeBytes(b[l:])
		if m < 0 {
			t.Fatalf("bad field %d", num)
		}
		switch num {
		case 1:
			payload = v
		case 2:
			code = string(v)
		case 3:
			msg = string(v)
		}
		b = b[l+m:]
	}
	return payload, code, msg
}

// kusciaPost sends a request in Kuscia's HTTP form and decodes the reply.
func kusciaPost(t *testing.T, url string, hdr map[string]string, body []byte) (payload []byte, code string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/proto" {
		t.Fatalf("kuscia reply %d %q: %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	payload, code, _ = kusciaReply(t, b)
	return payload, code
}

// TestDialectInboundKuscia speaks Kuscia: invoke without x-ptp-uri, topic
// in x-ptp-topic, raw payload over gRPC (package org.ppc.grpc_ptp) and
// HTTP; pop timeouts in seconds (gRPC PopInbound.timeout, HTTP
// ?timeout=); HTTP replies in Kuscia's protobuf.
func TestDialectInboundKuscia(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc := meshtest.Dial(t, n.Addr)
	msg := []byte("kuscia \x00\x01 raw")
	hdr := []string{ptp.HeaderSessionID, "ks", ptp.HeaderTopic, "kt", ptp.HeaderSourceNodeID, "alice", ptp.HeaderTargetNodeID, ""}
	out := &ptp.Outbound{}
	err := cc.Invoke(ptpCtx(hdr...), "/org.ppc.grpc_ptp.PrivateTransferProtocol/invoke", &ptp.Inbound{Payload: msg}, out)
	wantOK(t, "kuscia grpc invoke", out.GetCode(), err)
	pop := &ptp.TransportOutbound{}
	start := time.Now()
	err = cc.Invoke(ptpCtx(ptp.HeaderSessionID, "ks"), "/org.ppc.grpc_ptp.PrivateTransferTransport/pop", &ptp.PopInbound{Topic: "kt", Timeout: 1}, pop)
	wantOK(t, "kuscia grpc pop", pop.GetCode(), err)
	if !bytes.Equal(pop.Payload, msg) {
		t.Fatalf("popped %q", pop.Payload)
	}
	err = cc.Invoke(ptpCtx(ptp.HeaderSessionID, "ks"), "/org.ppc.grpc_ptp.PrivateTransferTransport/pop", &ptp.PopInbound{Topic: "kt", Timeout: 1}, pop)
	wantOK(t, "kuscia grpc empty pop", pop.GetCode(), err)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("timeout 1 waited %v: read as ms, not seconds", d)
	}
	h := map[string]string{ptp.HeaderSessionID: "ks", ptp.HeaderTopic: "kh", ptp.HeaderSourceNodeID: "alice"}
	if _, code := kusciaPost(t, n.URL+"/v1/interconn/chan/invoke", h, msg); code != string(ptp.OK) {
		t.Fatalf("kuscia http invoke: %s", code)
	}
	if got, code := kusciaPost(t, n.URL+"/v1/interconn/chan/pop?timeout=1", h, nil); code != string(ptp.OK) || !bytes.Equal(got, msg) {
		t.Fatalf("kuscia http pop: %s %q", code, got)
	}
	start = time.Now()
	if got, code := kusciaPost(t, n.URL+"/v1/interconn/chan/pop?timeout=1", h, nil); code != string(ptp.OK) || len(got) != 0 {
		t.Fatalf("kuscia http empty pop: %s %q", code, got)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("?timeout=1 waited %v: not seconds", d)
	}
	// Without x-ptp-topic it is no Kuscia delivery: refused in Mesh's form.
	if rep := meshtest.Post(t, n.URL, "/v1/interconn/chan/invoke", map[string]string{ptp.HeaderSessionID: "ks"}, msg); rep.Code != ptp.BadRequest {
		t.Fatalf("invoke without uri or topic: %s", rep.Code)
	}
}
