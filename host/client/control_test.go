package client

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

// fakeNode answers every request with status and body, and records what it
// was sent.
type fakeNode struct {
	status int
	body   string
	got    *http.Request
	sent   string
}

func (f *fakeNode) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.got, f.sent = r, string(b)
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestControlCall: a control call sends JSON with the bearer token, decodes
// the content of a success, and turns a failure reply into *ptp.Error and a
// non-PTP answer into an error that says so.
func TestControlCall(t *testing.T) {
	f := &fakeNode{status: 200, body: `{"code":"E0000000000","message":"ok","content":{"node_id":"n1"}}`}
	c := &Control{URL: f.start(t), Name: "127.0.0.1:7304", Token: "tok"}
	ctx := context.Background()
	var out struct {
		NodeID string `json:"node_id"`
	}
	if err := c.Call(ctx, "/v1/interconn/net/weave", map[string]string{"node_id": "n1"}, &out); err != nil || out.NodeID != "n1" {
		t.Fatalf("success: %v %+v", err, out)
	}
	if f.got.Method != http.MethodPost || f.got.Header.Get("Authorization") != "Bearer tok" ||
		f.got.Header.Get("Content-Type") != "application/json" || f.sent != `{"node_id":"n1"}` {
		t.Fatalf("sent %s %q with %v", f.got.Method, f.sent, f.got.Header)
	}
	f.status, f.body = 403, `{"code":"E0000000403","message":"control endpoints answer loopback callers"}`
	var pe *ptp.Error
	if err := c.Call(ctx, "/v1/interconn/net", nil, &out); !errors.As(err, &pe) || pe.Code != ptp.Unauthorized ||
		err.Error() != "E0000000403: control endpoints answer loopback callers" || f.got.Method != http.MethodGet {
		t.Fatalf("failure: %v", err)
	}
	f.status, f.body = 502, `bad gateway`
	if err := c.Call(ctx, "/x", nil, nil); err == nil ||
		err.Error() != `node at 127.0.0.1:7304 answered HTTP 502 without a PTP reply: "bad gateway"` {
		t.Fatalf("non-PTP answer: %v", err)
	}
	f.status, f.body = 200, `{"code":"E0000000000","content":"not an object"}`
	if err := c.Call(ctx, "/y", nil, &out); err == nil || !strings.HasPrefix(err.Error(), "reply of GET /y:") {
		t.Fatalf("content of the wrong shape: %v", err)
	}
}

// TestControlDo: Do returns a failure reply and its HTTP status as they are
// (the readiness probe reads a 503 reply's content).
func TestControlDo(t *testing.T) {
	f := &fakeNode{status: 503, body: `{"code":"E0000000500","message":"not ready: nats","content":{"ready":false,"reason":"nats"}}`}
	c := &Control{URL: f.start(t)}
	r, status, err := c.Do(context.Background(), "/healthz", nil)
	var h struct{ Reason string }
	if err != nil || status != 503 || r.Code != ptp.SystemError || r.Decode(&h) != nil || h.Reason != "nats" {
		t.Fatalf("503 reply: %+v %d %v", r, status, err)
	}
	if f.got.Header.Get("Authorization") != "" {
		t.Fatalf("a token was sent without one set: %v", f.got.Header)
	}
}
