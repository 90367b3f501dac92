package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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
	c := &control{addr: strings.TrimPrefix(srv.URL, "http://")}
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
	c.token = "from-flag"
	var re replyError
	if err := c.call(ctx, "/denied", nil, nil); !errors.As(err, &re) || re.Code != ptp.Unauthorized ||
		err.Error() != "E0000000403: control endpoints answer loopback callers" || auth != "Bearer from-flag" {
		t.Fatalf("denied reply: %v (auth %q)", err, auth)
	}
	if err := c.call(ctx, "/other", nil, nil); err == nil || !strings.Contains(err.Error(), "without a PTP reply") {
		t.Fatalf("non-PTP reply: %v", err)
	}
}
