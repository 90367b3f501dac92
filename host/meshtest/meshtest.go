// Package meshtest starts real nodes for tests and benchmarks and gives them
// small clients over HTTP and gRPC. Nothing here is mocked: a node is the
// real host on 127.0.0.1:0 with the embedded NATS under a temporary home.
package meshtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Node is a running node.
type Node struct {
	Host *host.Host
	Addr string // host:port
	URL  string // http://host:port
	ID   string // node id, once identified
	Inst string // institution id, once identified
	stop context.CancelFunc
	done chan error

	// AdminURL is where the node's control API is: URL, or its admin
	// port's http://host:port when it has one (Config.AdminListen).
	AdminURL string
}

// Start runs a node with cfg (Home and Listen default to a temp dir and
// 127.0.0.1:0, PluginCache to the test binary's shared cache) and stops it
// when the test ends.
func Start(tb testing.TB, cfg host.Config) *Node {
	tb.Helper()
	if cfg.Home == "" {
		cfg.Home = tb.TempDir()
	}
	if cfg.PluginCache == "" {
		cfg.PluginCache = PluginCache(tb)
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
	n.AdminURL = n.URL
	if a := h.AdminAddr(); a != nil {
		n.AdminURL = "http://" + a.String()
	}
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

// Reply is a decoded JSON reply of the HTTP API: the one reply envelope
// (ptp.Reply) with the chan replies' metadata, and the HTTP status and body
// for failure messages.
type Reply struct {
	ptp.Reply
	Metadata map[string]string `json:"metadata"`
	Status   int               `json:"-"`
	Body     string            `json:"-"`
}

// Decode decodes Content into v.
func (r Reply) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Content, v); err != nil {
		tb.Fatalf("content of %s: %v", r.Body, err)
	}
}

// Get fetches url and decodes the JSON reply.
func Get(tb testing.TB, url string) Reply {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return send(tb, req)
}

// defaultWait bounds polls for state that settles in milliseconds.
const defaultWait = 20 * time.Second

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
	return send(tb, req)
}

// send sends req and decodes the JSON reply.
func send(tb testing.TB, req *http.Request) Reply {
	tb.Helper()
	return Do(tb, http.DefaultClient, req)
}

// Do sends req through hc and decodes the JSON reply.
func Do(tb testing.TB, hc *http.Client, req *http.Request) Reply {
	tb.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		tb.Fatalf("%s %s: reply is not JSON (%d): %q", req.Method, req.URL.Path, resp.StatusCode, data)
	}
	r.Status, r.Body = resp.StatusCode, string(data)
	return r
}

// Fetch sends req through hc (nil: http.DefaultClient) and returns the
// status and body, whatever they are.
func Fetch(tb testing.TB, hc *http.Client, req *http.Request) (int, string) {
	tb.Helper()
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Session returns PTP headers for a session, plus extra pairs.
func Session(id string, kv ...string) map[string]string {
	h := map[string]string{ptp.HeaderSessionID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}

// The container clients, under the names the tests use.
type (
	Client     = client.Client
	HTTPClient = client.HTTP
	GRPCClient = client.GRPC
)

// NewGRPCClient returns a gRPC client for session over cc.
func NewGRPCClient(cc *grpc.ClientConn, session string) *GRPCClient {
	return client.NewGRPC(cc, session)
}

// Dial opens a gRPC connection to the node, closed when the test ends.
func Dial(tb testing.TB, addr string) *grpc.ClientConn {
	tb.Helper()
	cc, err := client.Dial(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cc.Close() })
	return cc
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
