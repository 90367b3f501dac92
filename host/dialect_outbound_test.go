package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// peerMsg is one delivery an emulated peer accepted.
type peerMsg struct {
	md      map[string]string // what the peer read its headers from
	topic   string
	payload []byte
}

// emulatedPeer is a real server speaking one dialect, accepting only what
// the real peer accepts. refuse, when set, answers every gRPC invoke.
type emulatedPeer struct {
	grpcAddr string // host:port of its gRPC server (h2c)
	httpAddr string // host:port of its HTTP server
	mu       sync.Mutex
	got      []peerMsg
	refuse   func() (*ptp.Outbound, error)
}

func (p *emulatedPeer) record(m peerMsg) {
	p.mu.Lock()
	p.got = append(p.got, m)
	p.mu.Unlock()
}

// setRefusal makes every gRPC invoke answered by refuse (nil: served).
func (p *emulatedPeer) setRefusal(refuse func() (*ptp.Outbound, error)) {
	p.mu.Lock()
	p.refuse = refuse
	p.mu.Unlock()
}

func (p *emulatedPeer) refusal() func() (*ptp.Outbound, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refuse
}

func (p *emulatedPeer) received() []peerMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peerMsg(nil), p.got...)
}

// startPeer runs p's gRPC server, with only invoke of service (streams get
// Unimplemented), and its HTTP server; both stop when the test ends.
func startPeer(t *testing.T, p *emulatedPeer, service string, invoke func(context.Context, *ptp.Inbound) *ptp.Outbound, h http.HandlerFunc) {
	t.Helper()
	gs := grpc.NewServer(grpc.StatsHandler(compressionSeen{}), grpc.MaxRecvMsgSize(64<<20))
	gs.RegisterService(&grpc.ServiceDesc{ServiceName: service, HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "invoke", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(ptp.Inbound)
			if err := dec(in); err != nil {
				return nil, err
			}
			if refuse := p.refusal(); refuse != nil {
				return refuse()
			}
			return invoke(ctx, in), nil
		}}}}, nil)
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{}, 2)
	go func() { _ = gs.Serve(gl); done <- struct{}{} }()
	go func() { _ = hs.Serve(hl); done <- struct{}{} }()
	t.Cleanup(func() { gs.Stop(); _ = hs.Close(); <-done; <-done })
	p.grpcAddr, p.httpAddr = gl.Addr().String(), hl.Addr().String()
}

// compressionSeen records the grpc-encoding of each call in its context.
type compressionSeen struct{}

type compressionKey struct{}

func (compressionSeen) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, compressionKey{}, new(atomic.Value))
}

func (compressionSeen) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		if v, ok := ctx.Value(compressionKey{}).(*atomic.Value); ok {
			v.Store(h.Compression)
		}
	}
}

func (compressionSeen) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (compressionSeen) HandleConn(context.Context, stats.ConnStats)                       {}

func compressionOf(ctx context.Context) string {
	v, _ := ctx.Value(compressionKey{}).(*atomic.Value)
	s, _ := v.Load().(string)
	return s
}

// grpcHeaders are a call's gRPC metadata, first values: the only place the
// older Mesh reads headers from.
func grpcHeaders(ctx context.Context) map[string]string {
	md, _ := metadata.FromIncomingContext(ctx)
	out := map[string]string{}
	for k, v := range md {
		out[k] = v[0]
	}
	return out
}

func outbound(c ptp.Code, msg string) *ptp.Outbound {
	return &ptp.Outbound{Code: string(c), Message: msg}
}

// missingHeaders says which of the PTP headers every delivery needs md lacks.
func missingHeaders(md map[string]string) string {
	var miss []string
	for _, h := range []string{ptp.HeaderSessionID, ptp.HeaderSourceNodeID, ptp.HeaderTargetNodeID} {
		if md[h] == "" {
			miss = append(miss, h)
		}
	}
	return strings.Join(miss, ",")
}

// legacyPeer emulates the older Go Mesh as a partner: unary invoke only,
// gzip required, headers only from gRPC metadata, x-ptp-uri bare or
// grpcs://ptp.cn/…, payload strictly protobuf PushInbound; over HTTP only
// its JSON form of invoke.
func legacyPeer(t *testing.T) *emulatedPeer {
	p := &emulatedPeer{}
	startPeer(t, p, "org.ppc.ptp.PrivateTransferProtocol", func(ctx context.Context, in *ptp.Inbound) *ptp.Outbound {
		md := grpcHeaders(ctx)
		if c := compressionOf(ctx); c != "gzip" {
			return outbound(ptp.BadRequest, "want grpc-encoding gzip, got "+c)
		}
		switch md[ptp.HeaderURI] {
		case "/org.ppc.ptp.PrivateTransferTransport/push", "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push":
		default:
			return outbound(ptp.NotFound, "no route for uri "+md[ptp.HeaderURI])
		}
		var push ptp.PushInbound
		if err := proto.Unmarshal(in.Payload, &push); err != nil || len(push.ProtoReflect().GetUnknown()) > 0 || push.Topic == "" {
			return outbound(ptp.SystemError, "proto: cannot parse invalid wire-format data")
		}
		if m := missingHeaders(md); m != "" {
			return outbound(ptp.BadRequest, "missing "+m)
		}
		p.record(peerMsg{md: md, topic: push.Topic, payload: push.Payload})
		return outbound(ptp.OK, "ok")
	}, p.legacyHTTP)
	return p
}

// legacyHTTP is the older Mesh's HTTP invoke: JSON Inbound whose payload is
// the base64 of the JSON PushInbound, x-ptp-uri .../chan/push.
func (p *emulatedPeer) legacyHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(c ptp.Code, msg string) {
		_ = json.NewEncoder(w).Encode(map[string]string{"code": string(c), "message": msg})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/interconn/chan/invoke" || r.Header.Get("Content-Type") != "application/json" {
		reply(ptp.NotFound, "no such route")
		return
	}
	if u := r.Header.Get(ptp.HeaderURI); u != "https://ptp.cn/v1/interconn/chan/push" && u != "/v1/interconn/chan/push" {
		reply(ptp.NotFound, "unknown uri "+u)
		return
	}
	var env struct {
		Metadata map[string]string `json:"metadata"`
		Payload  []byte            `json:"payload"`
	}
	var push struct {
		Topic   string `json:"topic"`
		Payload []byte `json:"payload"`
	}
	if json.NewDecoder(r.Body).Decode(&env) != nil || json.Unmarshal(env.Payload, &push) != nil || push.Topic == "" {
		reply(ptp.SystemError, "decode body")
		return
	}
	md := map[string]string{}
	for k := range r.Header {
		md[strings.ToLower(k)] = r.Header.Get(k)
	}
	if m := missingHeaders(md); m != "" {
		reply(ptp.BadRequest, "missing "+m)
		return
	}
	p.record(peerMsg{md: md, topic: push.Topic, payload: push.Payload})
	reply(ptp.OK, "ok")
}

// kusciaPeer emulates Kuscia's transport: invoke on org.ppc.grpc_ptp with no
// x-ptp-uri, the topic in x-ptp-topic and the raw payload; over HTTP the raw
// body, answered with protobuf TransportOutbound{payload=1, code=2, message=3}.
func kusciaPeer(t *testing.T) *emulatedPeer {
	p := &emulatedPeer{}
	startPeer(t, p, "org.ppc.grpc_ptp.PrivateTransferProtocol", func(ctx context.Context, in *ptp.Inbound) *ptp.Outbound {
		md := grpcHeaders(ctx)
		if code, msg := kusciaCheck(md); code != ptp.OK {
			return outbound(code, msg)
		}
		p.record(peerMsg{md: md, topic: md[ptp.HeaderTopic], payload: in.Payload})
		return outbound(ptp.OK, "ok")
	}, p.kusciaHTTP)
	return p
}

func kusciaCheck(md map[string]string) (ptp.Code, string) {
	switch {
	case md[ptp.HeaderURI] != "":
		return ptp.BadRequest, "unexpected x-ptp-uri"
	case md[ptp.HeaderTopic] == "":
		return ptp.BadRequest, "missing x-ptp-topic"
	case missingHeaders(md) != "":
		return ptp.BadRequest, "missing " + missingHeaders(md)
	}
	return ptp.OK, "ok"
}

func (p *emulatedPeer) kusciaHTTP(w http.ResponseWriter, r *http.Request) {
	md := map[string]string{}
	for k := range r.Header {
		md[strings.ToLower(k)] = r.Header.Get(k)
	}
	code, msg := kusciaCheck(md)
	body, err := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/interconn/chan/invoke" || err != nil {
		code, msg = ptp.NotFound, "no such route"
	}
	if code == ptp.OK {
		p.record(peerMsg{md: md, topic: md[ptp.HeaderTopic], payload: body})
	}
	var b []byte
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, string(code))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, msg)
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// dialectNode starts node-a, retrying unreachable partners for retry.
func dialectNode(t *testing.T, retry time.Duration) *meshtest.Node {
	a := meshtest.Start(t, host.Config{ForwardRetry: retry})
	a.Identify(t, "node-a", "inst-a")
	return a
}

// trustedRoute adds a plaintext route of dialect d to id at addr and
// confirms it with net/ack trust "plaintext".
func trustedRoute(t *testing.T, a *meshtest.Node, id, addr string, d ptp.Dialect) {
	t.Helper()
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": id, "inst_id": "inst-" + id, "address": addr,
		"allow_plaintext": true, "dialect": d}, ptp.OK)
	a.Control(t, "/v1/interconn/net/ack", map[string]any{"node_id": id, "trust": "plaintext"}, ptp.OK)
}

// pushAndSee pushes payload from a to id and checks that peer p received
// exactly it, under the topic, session and source node.
func pushAndSee(t *testing.T, a *meshtest.Node, p *emulatedPeer, id string, payload []byte) {
	t.Helper()
	before := len(p.received())
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s-" + id, Target: id}
	if code, err := c.Push(t.Context(), "t-"+id, payload); err != nil || code != ptp.OK {
		t.Fatalf("push of %d bytes to %s: %s %v", len(payload), id, code, err)
	}
	got := p.received()
	if len(got) != before+1 {
		t.Fatalf("%s received %d deliveries, want %d", id, len(got), before+1)
	}
	m := got[before]
	if !bytes.Equal(m.payload, payload) || m.topic != "t-"+id || m.md[ptp.HeaderSessionID] != "s-"+id ||
		m.md[ptp.HeaderSourceNodeID] != "node-a" || m.md[ptp.HeaderTargetNodeID] != id {
		t.Fatalf("%s received topic %q, %d bytes (want %d), headers %v", id, m.topic, len(m.payload), len(payload), m.md)
	}
}

func bigPayload() []byte { return bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 1<<20/18+1000) }

// TestDialectOutboundLegacy: node A delivers to the older Mesh, emulated,
// over gRPC and JSON HTTP, small and over 1 MiB, byte-exact.
func TestDialectOutboundLegacy(t *testing.T) {
	a, p := dialectNode(t, 10*time.Second), legacyPeer(t)
	trustedRoute(t, a, "legacy-g", "grpc://"+p.grpcAddr, ptp.DialectLegacy)
	trustedRoute(t, a, "legacy-h", "http://"+p.httpAddr, ptp.DialectLegacy)
	for _, id := range []string{"legacy-g", "legacy-h"} {
		pushAndSee(t, a, p, id, []byte("hello legacy"))
		pushAndSee(t, a, p, id, bigPayload())
	}
	m := p.received()[0]
	if m.md[ptp.HeaderTopic] != "t-legacy-g" || m.md[ptp.HeaderForm] != "" {
		t.Fatalf("legacy gRPC headers: %v", m.md)
	}
}

// TestDialectOutboundKuscia: node A delivers to Kuscia, emulated, over gRPC
// (org.ppc.grpc_ptp) and HTTP, small and over 1 MiB, byte-exact.
func TestDialectOutboundKuscia(t *testing.T) {
	a, p := dialectNode(t, 10*time.Second), kusciaPeer(t)
	trustedRoute(t, a, "kuscia-g", "grpc://"+p.grpcAddr, ptp.DialectKuscia)
	trustedRoute(t, a, "kuscia-h", "http://"+p.httpAddr, ptp.DialectKuscia)
	for _, id := range []string{"kuscia-g", "kuscia-h"} {
		pushAndSee(t, a, p, id, []byte("hello kuscia"))
		pushAndSee(t, a, p, id, bigPayload())
	}
}

// TestDialectOutboundRefusalNotRetried: a partner's deterministic refusal
// fails the push at once with the partner's code, well inside the retry
// window; a partner's 500 is still retried.
func TestDialectOutboundRefusalNotRetried(t *testing.T) {
	const retry = 20 * time.Second
	a, p := dialectNode(t, retry), legacyPeer(t)
	trustedRoute(t, a, "legacy-g", "grpc://"+p.grpcAddr, ptp.DialectLegacy)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "legacy-g"}
	for _, tc := range []struct {
		name   string
		refuse func() (*ptp.Outbound, error)
		want   ptp.Code
	}{
		{"PTP 400", func() (*ptp.Outbound, error) { return outbound(ptp.BadRequest, "missing topic"), nil }, ptp.BadRequest},
		{"PTP 616", func() (*ptp.Outbound, error) { return outbound(ptp.CodecError, "bad codec"), nil }, ptp.CodecError},
		{"gRPC InvalidArgument", func() (*ptp.Outbound, error) { return nil, status.Error(codes.InvalidArgument, "bad") }, ptp.BadRequest},
		{"gRPC Unimplemented", func() (*ptp.Outbound, error) { return nil, status.Error(codes.Unimplemented, "no gzip") }, ptp.NoSuchService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.setRefusal(tc.refuse)
			start := time.Now()
			code, _ := c.Push(t.Context(), "t", []byte("x"))
			if took := time.Since(start); code != tc.want || took > 3*time.Second {
				t.Fatalf("push: %s after %v, want %s at once (retry window %v)", code, took, tc.want, retry)
			}
		})
	}
	// With an outbox, a refusal is not parked either: it fails at once.
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "legacy-g", "outbox": true}, ptp.OK)
	p.setRefusal(func() (*ptp.Outbound, error) { return outbound(ptp.BadRequest, "missing topic"), nil })
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.BadRequest {
		t.Fatalf("push with an outbox to a refusing partner: %s", code)
	}
	// A 500 may pass: it is retried until the partner takes it.
	var calls atomic.Int32
	p.setRefusal(func() (*ptp.Outbound, error) {
		if calls.Add(1) < 3 {
			return outbound(ptp.SystemError, "busy"), nil
		}
		return outbound(ptp.OK, "ok"), nil
	})
	if code, err := c.Push(t.Context(), "t", []byte("x")); code != ptp.OK || calls.Load() != 3 {
		t.Fatalf("push after two 500s: %s %v, %d calls", code, err, calls.Load())
	}
}

// TestDialectOutboundTrustPath: a legacy partner cannot weave; the
// operator's plaintext trust makes its route usable, the partner is known by
// its source address only, and a stranger elsewhere cannot claim to be it.
func TestDialectOutboundTrustPath(t *testing.T) {
	a, p := dialectNode(t, 5*time.Second), legacyPeer(t)
	c := &meshtest.HTTPClient{URL: a.URL, Session: "s", Target: "legacy-g"}
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "legacy-g", "address": "grpc://" + p.grpcAddr,
		"allow_plaintext": true, "dialect": "legacy"}, ptp.OK)
	if code, _ := c.Push(t.Context(), "t", []byte("x")); code != ptp.NotWoven {
		t.Fatalf("push before the trust: %s", code)
	}
	if r := a.Control(t, "/v1/interconn/net/weave", map[string]string{"node_id": "legacy-g"}, ptp.Incompatible); !strings.Contains(string(r.Body), "trust") {
		t.Fatalf("weave toward a legacy partner: %s", r.Body)
	}
	a.Control(t, "/v1/interconn/net/ack", map[string]any{"node_id": "legacy-g", "trust": "sure"}, ptp.BadRequest)
	// Trust on plaintext is refused for a TLS route and for a mesh partner.
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "legacy-tls", "address": "127.0.0.1:1", "allow_plaintext": true, "dialect": "legacy"}, ptp.OK)
	a.Control(t, "/v1/interconn/net/ack", map[string]any{"node_id": "legacy-tls", "trust": "plaintext"}, ptp.BadRequest)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "mesh-b", "address": "grpc://127.0.0.1:1", "allow_plaintext": true}, ptp.OK)
	a.Control(t, "/v1/interconn/net/ack", map[string]any{"node_id": "mesh-b", "trust": "plaintext"}, ptp.BadRequest)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "x", "dialect": "fate"}, ptp.BadRequest)

	a.Control(t, "/v1/interconn/net/ack", map[string]any{"node_id": "legacy-g", "trust": "plaintext"}, ptp.OK)
	if st := a.RouteState(t, "legacy-g"); st != "woven" {
		t.Fatalf("after the trust: %s", st)
	}
	pushAndSee(t, a, p, "legacy-g", []byte("trusted"))

	// The partner, from its address's IP, delivers as the older Mesh does.
	if code := pushAsLegacy(t, a, "127.0.0.1", "from-partner"); code != ptp.OK {
		t.Fatalf("legacy partner's delivery from 127.0.0.1: %s", code)
	}
	got, code, _ := (&meshtest.HTTPClient{URL: a.URL, Session: "in"}).Pop(t.Context(), "t5", 2000)
	if code != ptp.OK || string(got) != "from-partner" {
		t.Fatalf("pop of the partner's delivery: %q %s", got, code)
	}
	// A stranger from another source address cannot be it.
	if code := pushAsLegacy(t, a, "127.0.0.2", "forged"); code != ptp.Unauthorized {
		t.Fatalf("stranger from 127.0.0.2 claiming legacy-g: %s", code)
	}
	// A route that no longer fits the trust falls back to new.
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "legacy-g", "dialect": "mesh"}, ptp.OK)
	if st := a.RouteState(t, "legacy-g"); st != "new" {
		t.Fatalf("after switching the trusted route to mesh: %s", st)
	}
}

// pushAsLegacy delivers to a, from source IP from, what the older Mesh node
// legacy-g sends: invoke, headers in gRPC metadata, PushInbound payload.
func pushAsLegacy(t *testing.T, a *meshtest.Node, from, payload string) ptp.Code {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	cc, err := grpc.NewClient("passthrough:///"+a.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	md := map[string]string{ptp.HeaderURI: "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderSessionID: "in",
		ptp.HeaderSourceNodeID: "legacy-g", ptp.HeaderTargetNodeID: "node-a"}
	body, _ := proto.Marshal(&ptp.PushInbound{Topic: "t5", Payload: []byte(payload)})
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), metadata.New(md)), 10*time.Second)
	defer cancel()
	out, err := ptp.NewPrivateTransferProtocolClient(cc).Invoke(ctx, &ptp.Inbound{Metadata: md, Payload: body})
	if err != nil {
		t.Fatalf("invoke from %s: %v", from, err)
	}
	t.Logf("delivery from %s: %s %s", from, out.Code, out.Message)
	return ptp.Code(out.Code)
}
