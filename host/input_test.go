package host_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// inputMax is the --max-message of the input tests' node.
const inputMax = 1024

// inputPush is one push of the input tests, sent as each transport sends it.
type inputPush struct {
	session, topic string
	headers        map[string]string // extra PTP headers (gRPC metadata on gRPC)
	metadata       map[string]string // the message's own metadata
	payload        []byte
}

// inputAnswer is what a node said: its code and message.
type inputAnswer struct {
	code ptp.Code
	msg  string
}

// inputHTTPPush pushes p as a JSON chan body.
func inputHTTPPush(t *testing.T, n *meshtest.Node, p inputPush) inputAnswer {
	t.Helper()
	h := meshtest.Session(p.session)
	for k, v := range p.headers {
		h[k] = v
	}
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, map[string]any{"topic": p.topic, "payload": p.payload, "metadata": p.metadata})
	return inputAnswer{r.Code, r.Message}
}

// inputRawPush pushes p as an application/octet-stream body, topic in the header.
func inputRawPush(t *testing.T, n *meshtest.Node, p inputPush) inputAnswer {
	t.Helper()
	h := meshtest.Session(p.session, "Content-Type", "application/octet-stream", ptp.HeaderTopic, p.topic)
	for k, v := range p.headers {
		h[k] = v
	}
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", h, p.payload)
	return inputAnswer{r.Code, r.Message}
}

// inputGRPCPush pushes p with PrivateTransferTransport.push.
func inputGRPCPush(t *testing.T, cc *grpc.ClientConn, p inputPush) inputAnswer {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), ptp.HeaderSessionID, p.session)
	for k, v := range p.headers {
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	out, err := ptp.NewPrivateTransferTransportClient(cc).Push(ctx, &ptp.PushInbound{Topic: p.topic, Payload: p.payload, Metadata: p.metadata})
	if err != nil {
		t.Fatalf("grpc push: %v", err)
	}
	return inputAnswer{ptp.Code(out.Code), out.Message}
}

// inputGRPCInvoke delivers p as a partner does, with PrivateTransferProtocol.invoke
// and a protobuf PushInbound.
func inputGRPCInvoke(t *testing.T, cc *grpc.ClientConn, p inputPush) inputAnswer {
	t.Helper()
	inner, _ := proto.Marshal(&ptp.PushInbound{Topic: p.topic, Payload: p.payload, Metadata: p.metadata})
	md := map[string]string{ptp.HeaderURI: "/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderSessionID: p.session}
	for k, v := range p.headers {
		md[k] = v
	}
	out, err := ptp.NewPrivateTransferProtocolClient(cc).Invoke(t.Context(), &ptp.Inbound{Metadata: md, Payload: inner})
	if err != nil {
		t.Fatalf("grpc invoke: %v", err)
	}
	return inputAnswer{ptp.Code(out.Code), out.Message}
}

// inputHTTPInvoke delivers p as a partner does over HTTP: the invoke endpoint,
// an HTTP-form x-ptp-uri and a JSON chan body.
func inputHTTPInvoke(t *testing.T, n *meshtest.Node, p inputPush) inputAnswer {
	t.Helper()
	h := meshtest.Session(p.session, ptp.HeaderURI, "/v1/interconn/chan/push")
	for k, v := range p.headers {
		h[k] = v
	}
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/invoke", h, map[string]any{"topic": p.topic, "payload": p.payload, "metadata": p.metadata})
	return inputAnswer{r.Code, r.Message}
}

// inputPushers are the paths a push reaches the node by: a container's three
// forms and a partner's two (called here without a certificate: the bounds
// are checked before who is calling).
func inputPushers(n *meshtest.Node, cc *grpc.ClientConn) map[string]func(*testing.T, inputPush) inputAnswer {
	return map[string]func(*testing.T, inputPush) inputAnswer{
		"http json":   func(t *testing.T, p inputPush) inputAnswer { return inputHTTPPush(t, n, p) },
		"http raw":    func(t *testing.T, p inputPush) inputAnswer { return inputRawPush(t, n, p) },
		"grpc push":   func(t *testing.T, p inputPush) inputAnswer { return inputGRPCPush(t, cc, p) },
		"grpc invoke": func(t *testing.T, p inputPush) inputAnswer { return inputGRPCInvoke(t, cc, p) },
		"http invoke": func(t *testing.T, p inputPush) inputAnswer { return inputHTTPInvoke(t, n, p) },
	}
}

// inputBound is one push at, below or above a limit, and what it must get:
// OK, or the code with every fragment in its message.
type inputBound struct {
	name  string
	p     inputPush
	want  ptp.Code
	words []string
}

func inputBounds() []inputBound {
	ok := func(name string, p inputPush) inputBound { return inputBound{name: name, p: p, want: ptp.OK} }
	bad := func(name string, p inputPush, words ...string) inputBound {
		return inputBound{name: name, p: p, want: ptp.BadRequest, words: words}
	}
	at, over := strings.Repeat("s", queue.MaxIDBytes), strings.Repeat("s", queue.MaxIDBytes+1)
	dotsAt, dotsOver := strings.Repeat(".", queue.MaxIDBytes/3), strings.Repeat(".", queue.MaxIDBytes/3+1) // 3 bytes each escaped
	p := func(session, topic string) inputPush {
		return inputPush{session: session, topic: topic, payload: []byte("m")}
	}
	withMeta := func(md map[string]string) inputPush {
		return inputPush{session: "meta", topic: "t", payload: []byte("m"), metadata: md}
	}
	withHeader := func(k, v string) inputPush {
		return inputPush{session: "hdr", topic: "t", payload: []byte("m"), headers: map[string]string{k: v}}
	}
	keyAt, keyOver := strings.Repeat("k", queue.MaxMetaKeyBytes), strings.Repeat("k", queue.MaxMetaKeyBytes+1)
	valAt, valOver := strings.Repeat("v", queue.MaxMetaValueBytes), strings.Repeat("v", queue.MaxMetaValueBytes+1)
	limit := fmt.Sprint(queue.MaxIDBytes)
	return []inputBound{
		ok("session id below", p(at[1:], "t")),
		ok("session id at", p(at, "t")),
		bad("session id above", p(over, "t"), "session id (x-ptp-session-id)", "257 bytes", limit),
		ok("session id at escaped", p(dotsAt, "t")),
		bad("session id above escaped", p(dotsOver, "t"), "session id", "escaped", limit),
		ok("topic at", p("topic", at)),
		bad("topic above", p("topic", over), "topic of 257 bytes", limit),
		bad("topic above escaped", p("topic", dotsOver), "topic", "escaped", limit),
		ok("message id at", withHeader(ptp.HeaderMessageID, at)),
		bad("message id above", withHeader(ptp.HeaderMessageID, over), "message id (x-mesh-message-id)", limit),
		bad("target node id above", withHeader(ptp.HeaderTargetNodeID, over), "target node id (x-ptp-target-node-id)", limit),
		bad("target inst id above", withHeader(ptp.HeaderTargetInstID, over), "target inst id (x-ptp-target-inst-id)", limit),
		bad("source node id above", withHeader(ptp.HeaderSourceNodeID, over), "source node id (x-ptp-source-node-id)", limit),
		bad("codec above", withHeader(ptp.HeaderCodec, over), "codec (x-mesh-codec)", limit),
		ok("metadata key at", withMeta(map[string]string{keyAt: "v"})),
		bad("metadata key above", withMeta(map[string]string{keyOver: "v"}), "metadata key", "129 bytes", "128"),
		bad("metadata key not a header name", withMeta(map[string]string{"a b": "v"}), `metadata key "a b"`, "A-Z a-z 0-9 - _ ."),
		ok("metadata value at", withMeta(map[string]string{"k": valAt})),
		bad("metadata value above", withMeta(map[string]string{"k": valOver}), `metadata value of key "k"`, "4097 bytes", "4096"),
		bad("metadata value not ASCII", withMeta(map[string]string{"k": "é"}), `metadata value of key "k"`, "printable ASCII"),
		bad("metadata value with a newline", withMeta(map[string]string{"k": "a\r\nx-ptp-code: 1"}), "printable ASCII"),
		ok("metadata total at", withMeta(inputMetaOfSize(queue.MaxMetadataBytes))),
		bad("metadata total above", withMeta(inputMetaOfSize(queue.MaxMetadataBytes+1)), "metadata of 3 entries", "8193 bytes", "8192"),
	}
}

// inputMetaOfSize is metadata of three entries that JSON-encodes to size bytes.
func inputMetaOfSize(size int) map[string]string {
	md := map[string]string{"a": strings.Repeat("x", 4000), "b": strings.Repeat("y", 4000)}
	// {"a":"…","b":"…","c":"…"}: 2 braces, 3×(2 key quotes + key + colon + 2 value quotes), 2 commas
	md["c"] = strings.Repeat("z", size-2-3*6-2-8000)
	return md
}

// TestInputBoundsOnEveryTransport: every identifier and the metadata of a
// push are bounded at one place, whatever transport the push came on: at a
// limit it is stored, one byte over it is refused with 400 naming the field
// and its limit, and the node keeps serving.
func TestInputBoundsOnEveryTransport(t *testing.T) {
	n := meshtest.Start(t, host.Config{MaxMessage: inputMax})
	cc := meshtest.Dial(t, n.Addr)
	for name, send := range inputPushers(n, cc) {
		t.Run(name, func(t *testing.T) {
			for _, c := range inputBounds() {
				if c.p.metadata != nil && name == "http raw" {
					continue // a raw body carries no metadata
				}
				got := send(t, c.p)
				if got.code != c.want {
					t.Errorf("%s: got %s %q, want %s", c.name, got.code, got.msg, c.want)
					continue
				}
				for _, w := range c.words {
					if !strings.Contains(got.msg, w) {
						t.Errorf("%s: message %q does not say %q", c.name, got.msg, w)
					}
				}
			}
		})
	}
	expectServing(t, n)
}

// TestLongIdentifiersAreRefusedOnPopPeekRelease: the calls that name a
// queue without storing anything are bounded the same way, on HTTP and
// gRPC, and the 4,100-byte session id of the issue no longer breaks the
// node's NATS connection.
func TestLongIdentifiersAreRefusedOnPopPeekRelease(t *testing.T) {
	n := meshtest.Start(t, host.Config{MaxMessage: inputMax})
	cc := meshtest.Dial(t, n.Addr)
	long := strings.Repeat("s", 4100)
	for _, m := range []string{"pop", "peek", "release"} {
		for _, hdr := range []map[string]string{meshtest.Session(long), meshtest.Session("s", ptp.HeaderTopic, long)} {
			r := meshtest.Post(t, n.URL, "/v1/interconn/chan/"+m, hdr, `{"topic":"t","timeout":1}`)
			if r.Code != ptp.BadRequest || !strings.Contains(r.Message, "4100 bytes exceeds the limit of 256") {
				t.Errorf("http %s: got %s %q", m, r.Code, r.Message)
			}
		}
	}
	c := meshtest.NewGRPCClient(cc, long)
	tc := ptp.NewPrivateTransferTransportClient(cc)
	outs := map[string]func() (*ptp.TransportOutbound, error){
		"pop": func() (*ptp.TransportOutbound, error) {
			return tc.Pop(c.Outgoing(t.Context()), &ptp.PopInbound{Topic: "t", Timeout: 1})
		},
		"peek": func() (*ptp.TransportOutbound, error) {
			return tc.Peek(c.Outgoing(t.Context()), &ptp.PeekInbound{Topic: "t"})
		},
		"release": func() (*ptp.TransportOutbound, error) {
			return tc.Release(c.Outgoing(t.Context()), &ptp.ReleaseInbound{Topic: "t"})
		},
	}
	for m, call := range outs {
		out, err := call()
		if err != nil || ptp.Code(out.Code) != ptp.BadRequest || !strings.Contains(out.Message, "session id (x-ptp-session-id) of 4100 bytes") {
			t.Errorf("grpc %s: %v %v", m, out, err)
		}
	}
	for range 3 { // the three pushes
		if a := inputHTTPPush(t, n, inputPush{session: long, topic: "t", payload: []byte("hi")}); a.code != ptp.BadRequest {
			t.Fatalf("long session push: %s %q", a.code, a.msg)
		}
	}
	expectServing(t, n)
}

// TestMaxMessageOnEveryTransport: --max-message bounds the payload the same
// way on every transport: a message of max bytes is stored, one of max+1
// (or 1 MiB) is refused with 413 — on gRPC too, where it used to be taken.
func TestMaxMessageOnEveryTransport(t *testing.T) {
	n := meshtest.Start(t, host.Config{MaxMessage: inputMax})
	cc := meshtest.Dial(t, n.Addr)
	for name, send := range inputPushers(n, cc) {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				size int
				want ptp.Code
			}{{inputMax - 1, ptp.OK}, {inputMax, ptp.OK}, {inputMax + 1, ptp.TooLarge}, {1 << 20, ptp.TooLarge}} {
				got := send(t, inputPush{session: "max", topic: "t", payload: bytes.Repeat([]byte("x"), c.size)})
				if got.code != c.want {
					t.Errorf("%d bytes: got %s %q, want %s", c.size, got.code, got.msg, c.want)
				}
				if c.want == ptp.TooLarge && !strings.Contains(got.msg, fmt.Sprint(inputMax)) {
					t.Errorf("%d bytes: message %q does not give the limit", c.size, got.msg)
				}
			}
		})
	}
	// What was accepted is all there, whole: 2 messages from each of 5 paths.
	hc := meshtest.HTTPClient{URL: n.URL, Session: "max"}
	for i := range 10 {
		p, code, err := hc.Pop(t.Context(), "t", 1)
		if err != nil || code != ptp.OK || len(p) < inputMax-1 || len(p) > inputMax {
			t.Fatalf("pop %d: %d bytes, %s, %v", i, len(p), code, err)
		}
	}
	expectServing(t, n)
}

// TestPushWithoutPayloadIsRefused: a JSON push naming no payload is refused
// with 400 saying how to send an empty message; an explicit empty payload
// is a 0-byte message, which pops with "content":"" and a message id — a
// pop that times out has neither. gRPC cannot tell an absent bytes field
// from an empty one (proto3), so it keeps the 0-byte message.
func TestPushWithoutPayloadIsRefused(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	s := meshtest.Session("empty")
	for _, body := range []string{`{"topic":"t"}`, `{"topic":"t","payload":null}`, ``, `{"topic":"t","metadata":{"k":"v"}}`} {
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("empty", ptp.HeaderTopic, "t"), body)
		if r.Code != ptp.BadRequest || r.Message != `payload is missing; send "payload":"" for an empty message` {
			t.Errorf("push %s: got %s %q", body, r.Code, r.Message)
		}
	}
	for _, body := range []string{`{"topic":"t","payload":""}`, `{"topic":"t","content":""}`} {
		if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", s, body); r.Code != ptp.OK {
			t.Fatalf("push %s: %s", body, r.Body)
		}
	}
	cc := meshtest.Dial(t, n.Addr)
	if code, err := meshtest.NewGRPCClient(cc, "empty").Push(t.Context(), "t", nil); err != nil || code != ptp.OK {
		t.Fatalf("grpc empty push: %s %v", code, err)
	}
	for i := range 3 { // the two HTTP pushes and the gRPC one, each 0 bytes
		r := meshtest.Post(t, n.URL, "/v1/interconn/chan/pop", s, `{"topic":"t","timeout":1000}`)
		if r.Code != ptp.OK || string(r.Content) != `""` || !strings.Contains(r.Body, `"payload":""`) || r.Metadata[ptp.HeaderMessageID] == "" {
			t.Fatalf("pop %d of a 0-byte message: %s", i, r.Body)
		}
	}
	r := meshtest.Post(t, n.URL, "/v1/interconn/chan/pop", s, `{"topic":"t","timeout":1}`)
	if r.Code != ptp.OK || r.Content != nil || r.Metadata != nil {
		t.Fatalf("pop that timed out: %s", r.Body)
	}
	// Over gRPC a popped 0-byte message carries its id; a timeout has none.
	if code, err := meshtest.NewGRPCClient(cc, "empty").Push(t.Context(), "t", []byte{}); err != nil || code != ptp.OK {
		t.Fatalf("grpc empty push: %s %v", code, err)
	}
	tc := ptp.NewPrivateTransferTransportClient(cc)
	ctx := meshtest.NewGRPCClient(cc, "empty").Outgoing(t.Context())
	for i, wantID := range []bool{true, false} {
		out, err := tc.Pop(ctx, &ptp.PopInbound{Topic: "t", Timeout: 100})
		if err != nil || out.Code != string(ptp.OK) || len(out.Payload) != 0 || (out.Metadata[ptp.HeaderMessageID] != "") != wantID {
			t.Fatalf("grpc pop %d: %v %v", i, out, err)
		}
	}
	// A raw body is the message itself: an empty one is a 0-byte message.
	raw := meshtest.Session("empty", "Content-Type", "application/octet-stream", ptp.HeaderTopic, "t")
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", raw, []byte{}); r.Code != ptp.OK {
		t.Fatalf("raw empty push: %s", r.Body)
	}
	if p, code, err := (&meshtest.HTTPClient{URL: n.URL, Session: "empty"}).Pop(t.Context(), "t", 1000); err != nil || code != ptp.OK || p == nil || len(p) != 0 {
		t.Fatalf("pop of the raw empty push: %q %s %v", p, code, err)
	}
}

// TestControlBodiesAreStrict: a control body with a field the endpoint
// does not know, or data after the JSON value, is refused with 400 naming
// the field, and changes nothing; the body without it is taken.
func TestControlBodiesAreStrict(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	n.Identify(t, "strict", "inst")
	for _, c := range []struct{ path, body, words string }{
		{"/v1/interconn/net/refresh", `{"node_id":"p","adress":"127.0.0.1:1"}`, `unknown field "adress"`},
		{"/v1/interconn/net/refresh", `{"node_id":"p","address":"127.0.0.1:1"} {"node_id":"q"}`, "trailing data"},
		{"/v1/interconn/node/refresh", `{"node_id":"renamed","inst_id":"inst","instname":"x"}`, `unknown field "instname"`},
		{"/v1/interconn/net/ack", `{"node_id":"p","cod":"x"}`, `unknown field "cod"`},
		{"/v1/interconn/net/weave", `{"node_id":"p","adress":"x"}`, `unknown field "adress"`},
		{"/v1/interconn/net/remove", `{"nodeid":"p"}`, `unknown field "nodeid"`},
		{"/v1/interconn/net/disable", `{"node_id":"p"}]`, "trailing data"},
		{"/v1/interconn/plugin/remove", `{"name":"x","force":true}`, `unknown field "force"`},
		{"/v1/interconn/plugin/install", `{"name":"x","kind":"codec","wasm":"","sha":"x"}`, `unknown field "sha"`},
	} {
		r := meshtest.Post(t, n.URL, c.path, nil, c.body)
		if r.Code != ptp.BadRequest || r.Status != http.StatusBadRequest || !strings.Contains(r.Message, c.words) {
			t.Errorf("%s %s: got %d %s %q, want 400 saying %s", c.path, c.body, r.Status, r.Code, r.Message, c.words)
		}
	}
	if r := meshtest.Get(t, n.URL+"/v1/interconn/net/p"); r.Code != ptp.NotFound {
		t.Fatalf("a refused refresh made a route: %s", r.Body)
	}
	var id struct {
		NodeID string `json:"node_id"`
	}
	meshtest.Get(t, n.URL+"/v1/interconn/node").Decode(t, &id)
	if id.NodeID != "strict" {
		t.Fatalf("a refused node refresh renamed the node to %q", id.NodeID)
	}
	n.Control(t, "/v1/interconn/net/refresh", map[string]string{"node_id": "p", "address": "127.0.0.1:1"}, ptp.OK)
	if got := n.Route(t, "p").Address; got != "127.0.0.1:1" {
		t.Fatalf("route address %q", got)
	}
	n.Control(t, "/v1/interconn/net/remove", map[string]string{"node_id": "p"}, ptp.OK)
}

// TestBodyLimitLeavesRoomForBase64: a JSON push whose body is larger than
// --max-message but whose payload is not is taken (the limit is the
// payload's), and a body past the base64 of the largest payload is cut off
// with 413 before it is decoded.
func TestBodyLimitLeavesRoomForBase64(t *testing.T) {
	n := meshtest.Start(t, host.Config{MaxMessage: inputMax})
	body := fmt.Sprintf(`{"topic":"t","payload":%q}`, base64.StdEncoding.EncodeToString(make([]byte, inputMax)))
	if len(body) <= inputMax {
		t.Fatalf("body of %d bytes tests nothing", len(body))
	}
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("b64"), body); r.Code != ptp.OK {
		t.Fatalf("push of %d-byte body: %s", len(body), r.Body)
	}
	huge := fmt.Sprintf(`{"topic":"t","payload":%q}`, strings.Repeat("A", 1<<20))
	if r := meshtest.Post(t, n.URL, "/v1/interconn/chan/push", meshtest.Session("b64"), huge); r.Code != ptp.TooLarge || !strings.Contains(r.Message, "a payload of at most 1024 bytes") {
		t.Fatalf("1 MiB body: %s", r.Body)
	}
}

// TestDecodedPayloadIsBoundToo: the payload rule holds on what a partner's
// codec decodes to, not only on what crossed the wire: 1 MiB of text that
// gzip carries in a few KiB is refused with 413 by a node whose
// --max-message is 64 KiB, and the sender's caller is told at once; a
// payload within the limit is delivered.
func TestDecodedPayloadIsBoundToo(t *testing.T) {
	gz := plugintest.Build(t, "plugins/gzip")
	a, b := meshtest.Start(t, host.Config{}), meshtest.Start(t, host.Config{MaxMessage: 64 << 10})
	a.Identify(t, "node-a", "inst-a")
	b.Identify(t, "node-b", "inst-b")
	a.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	b.Install(t, "gzip", gz, nil, plugin.Options{}, ptp.OK)
	meshtest.Weave(t, a, b, map[string]any{"codec": "gzip"})
	c := &meshtest.HTTPClient{URL: a.URL, Session: "gzmax", Target: "node-b", Raw: true}
	if code, err := c.Push(t.Context(), "t", compressible(1<<20)); code != ptp.TooLarge || err != nil {
		t.Fatalf("push of 1 MiB that gzip shrinks: %s %v, want %s", code, err, ptp.TooLarge)
	}
	payload := compressible(64 << 10)
	if code, err := c.Push(t.Context(), "t", payload); code != ptp.OK {
		t.Fatalf("push of 64 KiB: %s %v", code, err)
	}
	got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "gzmax", Raw: true}).Pop(t.Context(), "t", 5000)
	if code != ptp.OK || !bytes.Equal(got, payload) {
		t.Fatalf("pop at B: %s, %d bytes", code, len(got))
	}
}
