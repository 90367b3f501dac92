package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ppcmesh/mesh/host/ptp"
)

// TestHTTPCallAnswer: a chan call returns the node's whole answer — code,
// message, message id and delivery — from raw headers and from JSON.
func TestHTTPCallAnswer(t *testing.T) {
	var raw bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw {
			w.Header().Set(ptp.HeaderCode, string(ptp.OK))
			w.Header().Set(ptp.HeaderMessage, "stored")
			w.Header().Set(ptp.HeaderMessageID, "m-1")
			w.Header().Set(ptp.HeaderDelivery, "queued")
			_, _ = w.Write([]byte("bytes"))
			return
		}
		_, _ = w.Write([]byte(`{"code":"E0000000000","message":"stored","content":"Ynl0ZXM=",` +
			`"metadata":{"x-mesh-message-id":"m-1","x-mesh-delivery":"queued"}}`))
	}))
	t.Cleanup(srv.Close)
	for _, raw = range []bool{true, false} {
		c := &HTTP{URL: srv.URL, Session: "s", Raw: raw}
		a, err := c.Call(context.Background(), ptp.Pop, "t", nil, 10)
		if err != nil || a.Code != ptp.OK || a.Message != "stored" || a.ID != "m-1" || a.Delivery != "queued" || string(a.Payload) != "bytes" {
			t.Fatalf("raw=%v: %+v %v", raw, a, err)
		}
	}
}

// TestHTTPCallNotPTP: a JSON answer that is not a reply is an error naming
// the method and status.
func TestHTTPCallNotPTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		_, _ = w.Write([]byte("bad gateway"))
	}))
	t.Cleanup(srv.Close)
	_, err := (&HTTP{URL: srv.URL, Session: "s"}).Call(context.Background(), ptp.Push, "t", []byte("x"), 0)
	if err == nil || err.Error() != `push reply 502: "bad gateway"` {
		t.Fatalf("got %v", err)
	}
}
