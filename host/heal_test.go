package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// healNATS starts a NATS server with JetStream on 127.0.0.1:port (0: any),
// its store in dir, as an operator's external NATS would be.
func healNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{ServerName: "external", Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// probe is one request to a health endpoint: its status, reply and raw body.
type probe struct {
	status int
	body   string
	reply  struct {
		Code    ptp.Code `json:"code"`
		Message string   `json:"message"`
		Content struct {
			Ready   bool   `json:"ready"`
			Reason  string `json:"reason"`
			Serving bool   `json:"serving"`
		} `json:"content"`
	}
}

func healProbe(t *testing.T, method, url string) probe {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p probe
	p.status, p.body = meshtest.Fetch(t, nil, req)
	if method == http.MethodGet {
		if err := json.Unmarshal([]byte(p.body), &p.reply); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, url, p.status, p.body)
		}
	}
	return p
}

// healPushPop pushes payload and pops it back.
func healPushPop(t *testing.T, c *meshtest.HTTPClient, topic, payload string) {
	t.Helper()
	if code, err := c.Push(t.Context(), topic, []byte(payload)); err != nil || code != ptp.OK {
		t.Fatalf("push %s: %s %v", topic, code, err)
	}
	healPop(t, c, topic, payload)
}

func healPop(t *testing.T, c *meshtest.HTTPClient, topic, want string) {
	t.Helper()
	got, code, err := c.Pop(t.Context(), topic, 5000)
	if err != nil || code != ptp.OK || string(got) != want {
		t.Fatalf("pop %s: %q %s %v, want %q", topic, got, code, err, want)
	}
}

// TestProbesFailWhileNATSIsDownThenNodeHeals stops the node's external NATS
// server under it: /healthz and /stats answer 503 (GET and HEAD) in one
// shape while it is down; once it is back on its port the node reconnects
// by itself, serves push and pop again, and the message pushed before is
// still there.
func TestProbesFailWhileNATSIsDownThenNodeHeals(t *testing.T) {
	store := t.TempDir()
	srv := healNATS(t, store, 0)
	port := srv.Addr().(*net.TCPAddr).Port
	n := meshtest.Start(t, host.Config{NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", port)})
	c := &meshtest.HTTPClient{URL: n.URL, Session: "heal"}
	if code, err := c.Push(t.Context(), "kept", []byte("before")); err != nil || code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	for _, path := range []string{"/healthz", "/stats"} {
		if p := healProbe(t, http.MethodGet, n.URL+path); p.status != http.StatusOK || p.reply.Code != ptp.OK {
			t.Fatalf("%s while serving: %d %s", path, p.status, p.body)
		}
		if p := healProbe(t, http.MethodHead, n.URL+path); p.status != http.StatusOK || p.body != "" {
			t.Fatalf("HEAD %s while serving: %d %q", path, p.status, p.body)
		}
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	meshtest.WaitFor(t, 20*time.Second, "/healthz to answer 503", func() bool {
		return healProbe(t, http.MethodGet, n.URL+"/healthz").status == http.StatusServiceUnavailable
	})
	for _, path := range []string{"/healthz", "/stats"} {
		p := healProbe(t, http.MethodGet, n.URL+path)
		if p.status != http.StatusServiceUnavailable || p.reply.Code != ptp.SystemError || p.reply.Content.Ready ||
			p.reply.Content.Reason == "" || !strings.Contains(p.reply.Message, p.reply.Content.Reason) {
			t.Fatalf("%s while nats is down: %d %s", path, p.status, p.body)
		}
		if p := healProbe(t, http.MethodHead, n.URL+path); p.status != http.StatusServiceUnavailable || p.body != "" {
			t.Fatalf("HEAD %s while nats is down: %d %q", path, p.status, p.body)
		}
	}

	healNATS(t, store, port)
	meshtest.WaitFor(t, 30*time.Second, "the node to heal", func() bool {
		return healProbe(t, http.MethodGet, n.URL+"/healthz").status == http.StatusOK &&
			healProbe(t, http.MethodGet, n.URL+"/stats").status == http.StatusOK
	})
	healPop(t, c, "kept", "before")
	healPushPop(t, c, "after", "healed")
	g := meshtest.NewGRPCClient(meshtest.Dial(t, n.Addr), "heal-grpc")
	if code, err := g.Push(t.Context(), "t", []byte("grpc")); err != nil || code != ptp.OK {
		t.Fatalf("grpc push after healing: %s %v", code, err)
	}
	if got, code, err := g.Pop(t.Context(), "t", 5000); err != nil || code != ptp.OK || string(got) != "grpc" {
		t.Fatalf("grpc pop after healing: %q %s %v", got, code, err)
	}
}

// TestNodeReconnectsWhenEmbeddedServerDropsIt: the embedded server drops
// every client connection of the node (as it does a slow or misbehaving
// client); the node reconnects in-process and serves again, with nothing
// lost.
func TestNodeReconnectsWhenEmbeddedServerDropsIt(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	c := &meshtest.HTTPClient{URL: n.URL, Session: "kicked"}
	if code, err := c.Push(t.Context(), "kept", []byte("before")); err != nil || code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	nc := host.NATSOf(n.Host)
	kicked := map[uint64]bool{}
	for _, conn := range append(nc.Pool, nc.Conn) {
		id, err := conn.GetClientID()
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Server.DisconnectClientByID(id); err != nil {
			t.Fatalf("drop client %d: %v", id, err)
		}
		kicked[id] = true
	}
	meshtest.WaitFor(t, 20*time.Second, "every connection to come back", func() bool {
		for _, conn := range append(nc.Pool, nc.Conn) {
			id, err := conn.GetClientID()
			if err != nil || kicked[id] || !conn.IsConnected() {
				return false
			}
		}
		return healProbe(t, http.MethodGet, n.URL+"/healthz").status == http.StatusOK
	})
	healPop(t, c, "kept", "before")
	healPushPop(t, c, "after", "reconnected")
}

// TestNodeStopsWhenNATSClosesForGood: an answer that makes nats.go close the
// connection for good ("maximum control line exceeded", here provoked on
// the node's own connection) stops the node with an error that says so,
// so that its supervisor restarts it, instead of leaving it to answer 500
// to every call.
func TestNodeStopsWhenNATSClosesForGood(t *testing.T) {
	h, err := host.New(context.Background(), host.Config{Home: t.TempDir(), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	url := "http://" + h.Addr().String()
	meshtest.WaitFor(t, 20*time.Second, "the node to serve", func() bool {
		return healProbe(t, http.MethodGet, url+"/healthz").status == http.StatusOK
	})
	nc := host.NATSOf(h).Conn
	if err := nc.Publish(strings.Repeat("s", 5000), nil); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "closed for good") || !strings.Contains(err.Error(), "maximum control line") {
			t.Fatalf("node stopped with %v, want the lost connection", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the node still runs on a closed nats connection; /healthz: %s", healProbe(t, http.MethodGet, url+"/healthz").body)
	}
}
