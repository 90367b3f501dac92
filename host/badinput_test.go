package host_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

func TestBadHTTPInputGetsACodeAndTheNodeKeepsServing(t *testing.T) {
	n := meshtest.Start(t, host.Config{MaxMessage: 1 << 20})
	s := meshtest.Session("bad")
	huge := bytes.Repeat([]byte("x"), 2<<20)
	cases := []struct {
		name    string
		path    string
		headers map[string]string
		body    any
		want    ptp.Code
		status  int
	}{
		{"malformed json", "push", s, `{"topic": "t", "payload": `, ptp.BadRequest, 400},
		{"payload not base64", "push", s, `{"topic":"t","payload":"%%%"}`, ptp.BadRequest, 400},
		{"payload a number", "push", s, `{"topic":"t","payload":42}`, ptp.BadRequest, 400},
		{"metadata an array", "push", s, `{"topic":"t","metadata":[1]}`, ptp.BadRequest, 400},
		{"timeout a string", "pop", s, `{"topic":"t","timeout":"soon"}`, ptp.BadRequest, 400},
		{"timeout negative", "pop", s, `{"topic":"t","timeout":-5}`, ptp.BadRequest, 400},
		{"timeout huge", "pop", s, `{"topic":"t","timeout":99999999999}`, ptp.BadRequest, 400},
		{"timeout header not a number", "pop", meshtest.Session("bad", ptp.HeaderTimeout, "1e3"), `{"topic":"t"}`, ptp.BadRequest, 400},
		{"missing session", "push", nil, `{"topic":"t","payload":"eA=="}`, ptp.BadRequest, 400},
		{"missing topic", "pop", s, `{}`, ptp.BadRequest, 400},
		{"body over the cap", "push", meshtest.Session("bad", "Content-Type", "application/octet-stream", ptp.HeaderTopic, "t"), huge, ptp.TooLarge, 413},
		{"unknown target node", "push", meshtest.Session("bad", ptp.HeaderTargetNodeID, "nobody"), `{"topic":"t","payload":""}`, ptp.NotWoven, 403},
		{"invoke without uri", "invoke", s, `{}`, ptp.BadRequest, 400},
		{"invoke unknown uri", "invoke", meshtest.Session("bad", ptp.HeaderURI, "/v1/interconn/chan/explode"), `{}`, ptp.NoSuchService, 404},
		{"invoke garbage protobuf", "invoke", meshtest.Session("bad", ptp.HeaderURI, "/org.ppc.ptp.PrivateTransferTransport/push"), []byte{0xff, 0xff, 0xff}, ptp.BadRequest, 400},
		{"unknown endpoint", "nope", s, `{}`, ptp.NotFound, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := meshtest.Post(t, n.URL, "/v1/interconn/chan/"+c.path, c.headers, c.body)
			if r.Code != c.want || r.Status != c.status || r.Message == "" {
				t.Fatalf("got %s (%d) %q, want %s (%d)", r.Code, r.Status, r.Message, c.want, c.status)
			}
			t.Logf("%s: %s", r.Code, r.Message)
		})
	}
	// A body over the cap without Content-Length (chunked) is cut off too.
	req, _ := http.NewRequest("POST", n.URL+"/v1/interconn/chan/push", struct{ *bytes.Reader }{bytes.NewReader(huge)})
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(ptp.HeaderSessionID, "bad")
	req.Header.Set(ptp.HeaderTopic, "t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversize body: %d", resp.StatusCode)
	}
	expectServing(t, n)
}

func TestBadGRPCInputGetsACodeAndTheNodeKeepsServing(t *testing.T) {
	n := meshtest.Start(t, host.Config{MaxMessage: 1 << 20})
	cc := meshtest.Dial(t, n.Addr)
	c := meshtest.NewGRPCClient(cc, "bad")
	ctx := c.Outgoing(t.Context())

	// Garbage where a protobuf message should be.
	err := cc.Invoke(ctx, "/org.ppc.ptp.PrivateTransferTransport/push", &rawMsg{0x0a, 0xff, 0xff, 0xff, 0x0f}, new(rawMsg), grpc.ForceCodec(rawCodec{}))
	if status.Code(err) != codes.Internal {
		t.Fatalf("garbage protobuf: %v", err)
	}
	// Over the message limit.
	_, err = c.C.Push(ctx, &ptp.PushInbound{Topic: "t", Payload: make([]byte, 3<<20)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversize message: %v", err)
	}
	// Semantic errors come back in the reply's code.
	out, err := c.C.Pop(ctx, &ptp.PopInbound{Topic: "t", Timeout: -1})
	if err != nil || out.Code != string(ptp.BadRequest) {
		t.Fatalf("negative timeout: %v %v", out, err)
	}
	out, err = ptp.NewPrivateTransferTransportClient(cc).Push(context.Background(), &ptp.PushInbound{Topic: "t"})
	if err != nil || out.Code != string(ptp.BadRequest) || !strings.Contains(out.Message, "session") {
		t.Fatalf("missing session: %v %v", out, err)
	}
	inv, err := ptp.NewPrivateTransferProtocolClient(cc).Invoke(ctx, &ptp.Inbound{Metadata: map[string]string{ptp.HeaderURI: "grpcs://x/org.ppc.ptp.PrivateTransferTransport/push"}, Payload: []byte{0xff, 0x01}})
	if err != nil || inv.Code != string(ptp.BadRequest) {
		t.Fatalf("invoke garbage: %v %v", inv, err)
	}
	expectServing(t, n)
}

// TestGarbageConnectionsDoNotHurtTheNode: while connections of junk are
// held open (a TLS hello cut short waits in the port's sniffer), the node
// serves others; once the junk's sender is done, the node answers or closes
// each of them promptly; and it serves on.
func TestGarbageConnectionsDoNotHurtTheNode(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cases := []struct {
		name, reply string // reply: how the node's answer starts ("" for none)
		junk        []byte
	}{
		{"tls hello cut short", "", []byte{0x16, 0x03, 0x01, 0x00}},
		{"h2 preface then a bad frame", "", []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x99\x00\x00\x00\x00\x00garbage")},
		{"zeros", "", bytes.Repeat([]byte{0}, 4096)},
		{"negative content length", "HTTP/1.1 400", []byte("GET /stats HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")},
	}
	conns := make([]*net.TCPConn, len(cases))
	for i, c := range cases {
		conn, err := net.Dial("tcp", n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns[i] = conn.(*net.TCPConn)
		if _, err := conn.Write(c.junk); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	expectServing(t, n)
	// The cut-short hello is still waiting in the sniffer (10 s): the node
	// served the call above beside it, not after it.
	_ = conns[0].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := conns[0].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the cut-short hello was closed before the node served others beside it: %v", err)
	}
	for i, c := range cases {
		got, err := finish(conns[i])
		if err != nil {
			t.Fatalf("%s: the node neither answered nor closed the connection: %v (got %q)", c.name, err, got)
		}
		if !strings.HasPrefix(string(got), c.reply) {
			t.Fatalf("%s: answered %q, want %q…", c.name, got, c.reply)
		}
	}
	expectServing(t, n)
}

// finish tells the node that c has no more to send and reads what the node
// answers until it closes the connection (a reset counts as a close); an
// error means it did not close it within 10 s.
func finish(c *net.TCPConn) ([]byte, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_ = c.CloseWrite()
	got, err := io.ReadAll(c)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return got, err
}

// expectServing checks that the node still answers a push and pop.
func expectServing(t *testing.T, n *meshtest.Node) {
	t.Helper()
	c := &meshtest.HTTPClient{URL: n.URL, Session: "still-serving"}
	mustPush(t, c, "t", []byte("alive"))
	if got := mustPop(t, c, "t"); string(got) != "alive" {
		t.Fatalf("node no longer serves: %q", got)
	}
}

// rawMsg and rawCodec send bytes to a gRPC method as they are.
type rawMsg []byte

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*rawMsg), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*rawMsg) = append((*v.(*rawMsg))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }
