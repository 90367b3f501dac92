package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/ptp"
)

// TestControlCall checks what a control call sends and how it reads
// replies, against a stand-in node.
func TestControlCall(t *testing.T) {
	var auth, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"code":"E0000000000","message":"ok","content":{"node_id":"n1"}}`))
		case "/denied":
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"code":"E0000000403","message":"control endpoints answer loopback callers"}`))
		default:
			_, _ = w.Write([]byte(`<html>not a node</html>`))
		}
	}))
	defer srv.Close()
	c := &control{endpoint: &endpoint{addr: strings.TrimPrefix(srv.URL, "http://")}, token: &secret{flag: "token", env: "MESH_ADMIN_TOKEN"}}
	ctx := context.Background()

	t.Setenv("MESH_ADMIN_TOKEN", "from-env")
	var got struct {
		NodeID string `json:"node_id"`
	}
	if err := c.call(ctx, "/ok", map[string]string{"node_id": "n1"}, &got); err != nil || got.NodeID != "n1" {
		t.Fatalf("ok reply: %+v %v", got, err)
	}
	if auth != "Bearer from-env" || body != `{"node_id":"n1"}` {
		t.Fatalf("sent %q with %q", body, auth)
	}
	c.token.file = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(c.token.file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var re *ptp.Error
	if err := c.call(ctx, "/denied", nil, nil); !errors.As(err, &re) || re.Code != ptp.Unauthorized ||
		err.Error() != "E0000000403: control endpoints answer loopback callers" || auth != "Bearer from-file" {
		t.Fatalf("denied reply: %v (auth %q)", err, auth)
	}
	if err := c.call(ctx, "/other", nil, nil); err == nil || !strings.Contains(err.Error(), "without a PTP reply") {
		t.Fatalf("non-PTP reply: %v", err)
	}
}

// TestTokensStayOffTheCommandLineAndTheWire checks that a token given on
// the command line is refused, and that none is sent in plaintext to a node
// on another machine unless forced.
func TestTokensStayOffTheCommandLineAndTheWire(t *testing.T) {
	ctx := context.Background()
	argv := &control{endpoint: &endpoint{addr: "127.0.0.1:1"}, token: &secret{flag: "token", env: "MESH_ADMIN_TOKEN", argv: "s3cret"}}
	if err := argv.call(ctx, "/v1/interconn/node", nil, nil); err == nil || !strings.Contains(err.Error(), "visible to every user") {
		t.Fatalf("token on the command line: %v", err)
	}
	t.Setenv("MESH_ADMIN_TOKEN", "s3cret")
	remote := &control{endpoint: &endpoint{addr: "192.0.2.1:7304"}, token: &secret{flag: "token", env: "MESH_ADMIN_TOKEN"}}
	if err := remote.call(ctx, "/v1/interconn/node", nil, nil); err == nil || !strings.Contains(err.Error(), "refusing to send the admin token in plaintext") {
		t.Fatalf("token over plain http to another machine: %v", err)
	}
	for _, ok := range []*endpoint{{addr: "https://192.0.2.1:7304"}, {addr: "192.0.2.1:7304", force: true}, {addr: "localhost:7304"}, {addr: "[::1]:7304"}} {
		if err := ok.checkToken("admin token"); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
