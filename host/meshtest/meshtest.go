// Package meshtest starts real nodes for tests and benchmarks and gives them
// small clients over HTTP and gRPC. Nothing here is mocked: a node is the
// real host on 127.0.0.1:0 with the embedded NATS under a temporary home.
package meshtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Node is a running node.
type Node struct {
	Host *host.Host
	Addr string // host:port
	URL  string // http://host:port
	stop context.CancelFunc
	done chan error
}

// Start runs a node with cfg (Home and Listen default to a temp dir and
// 127.0.0.1:0) and stops it when the test ends.
func Start(tb testing.TB, cfg host.Config) *Node {
	tb.Helper()
	if cfg.Home == "" {
		cfg.Home = tb.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{Host: h, Addr: h.Addr().String(), URL: "http://" + h.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { n.done <- h.Run(ctx) }()
	tb.Cleanup(func() { n.Stop(tb) })
	return n
}

// Stop stops the node gracefully and waits for it.
func (n *Node) Stop(tb testing.TB) {
	if n.stop == nil {
		return
	}
	n.stop()
	n.stop = nil
	if err := <-n.done; err != nil {
		tb.Errorf("node stopped with: %v", err)
	}
}

// Reply is a decoded JSON reply of the HTTP API.
type Reply struct {
	Code     ptp.Code          `json:"code"`
	Message  string            `json:"message"`
	Content  json.RawMessage   `json:"content"`
	Metadata map[string]string `json:"metadata"`
	Status   int               `json:"-"`
	Body     string            `json:"-"`
}

// Bytes decodes Content as the base64 bytes of a chan reply (nil if absent).
func (r Reply) Bytes() []byte {
	var b []byte
	_ = json.Unmarshal(r.Content, &b)
	return b
}

// Post sends body (marshalled to JSON unless it is []byte) with the headers
// to path and decodes the reply.
func Post(tb testing.TB, url, path string, headers map[string]string, body any) Reply {
	tb.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(raw))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		tb.Fatalf("%s: reply is not JSON (%d): %q", path, resp.StatusCode, data)
	}
	r.Status, r.Body = resp.StatusCode, string(data)
	return r
}

// Session returns PTP headers for a session, plus extra pairs.
func Session(id string, kv ...string) map[string]string {
	h := map[string]string{ptp.HeaderSessionID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// HTTPClient is a container client over HTTP; Raw selects octet-stream bodies.
type HTTPClient struct {
	URL     string
	Session string
	Raw     bool
	Client  *http.Client
}

// Push pushes payload to topic.
func (c *HTTPClient) Push(topic string, payload []byte) (ptp.Code, error) {
	if c.Raw {
		_, code, err := c.do("push", topic, payload, "application/octet-stream", 0)
		return code, err
	}
	body, _ := json.Marshal(map[string]any{"topic": topic, "payload": payload})
	_, code, err := c.do("push", topic, body, "application/json", 0)
	return code, err
}

// Pop pops from topic, waiting up to timeout ms.
func (c *HTTPClient) Pop(topic string, timeout int) ([]byte, ptp.Code, error) {
	body, _ := json.Marshal(map[string]any{"topic": topic, "timeout": timeout})
	return c.do("pop", topic, body, "application/json", timeout)
}

func (c *HTTPClient) do(method, topic string, body []byte, ctype string, timeout int) ([]byte, ptp.Code, error) {
	req, _ := http.NewRequest(http.MethodPost, c.URL+"/v1/interconn/chan/"+method, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(ptp.HeaderSessionID, c.Session)
	req.Header.Set(ptp.HeaderTopic, topic)
	if timeout > 0 {
		req.Header.Set(ptp.HeaderTimeout, strconv.Itoa(timeout))
	}
	if c.Raw {
		req.Header.Set("Accept", "application/octet-stream")
	}
	hc := c.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if c.Raw {
		return data, ptp.Code(resp.Header.Get(ptp.HeaderCode)), nil
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, "", fmt.Errorf("%s reply %d: %q", method, resp.StatusCode, data)
	}
	return r.Bytes(), r.Code, nil
}

// Dial opens a gRPC connection to the node with large message limits.
func Dial(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20), grpc.MaxCallSendMsgSize(256<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
}

// GRPCClient is a container client over gRPC.
type GRPCClient struct {
	C       ptp.PrivateTransferTransportClient
	Session string
}

// NewGRPCClient returns a client for session over cc.
func NewGRPCClient(cc *grpc.ClientConn, session string) *GRPCClient {
	return &GRPCClient{C: ptp.NewPrivateTransferTransportClient(cc), Session: session}
}

// Ctx returns a context carrying the session header.
func (c *GRPCClient) Ctx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), ptp.HeaderSessionID, c.Session)
}

// Push pushes payload to topic.
func (c *GRPCClient) Push(topic string, payload []byte) (ptp.Code, error) {
	out, err := c.C.Push(c.Ctx(), &ptp.PushInbound{Topic: topic, Payload: payload})
	if err != nil {
		return "", err
	}
	return ptp.Code(out.Code), nil
}

// Pop pops from topic, waiting up to timeout ms.
func (c *GRPCClient) Pop(topic string, timeout int) ([]byte, ptp.Code, error) {
	out, err := c.C.Pop(c.Ctx(), &ptp.PopInbound{Topic: topic, Timeout: int32(timeout)})
	if err != nil {
		return nil, "", err
	}
	return out.Payload, ptp.Code(out.Code), nil
}

// Client is what both transports offer.
type Client interface {
	Push(topic string, payload []byte) (ptp.Code, error)
	Pop(topic string, timeout int) ([]byte, ptp.Code, error)
}

// WaitFor polls cond until it holds or d passes.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
