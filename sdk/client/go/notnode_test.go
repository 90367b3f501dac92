package meshclient_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// TestHTTPAnswersThatAreNotRaw: over HTTP, a JSON PTP reply without the raw
// headers (what a proxy or an older node in front may send) still gives an
// *Error with its code, and an answer that is no PTP reply at all is an
// error naming the status and body, with no code.
func TestHTTPAnswersThatAreNotRaw(t *testing.T) {
	body, ctype := "", ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	tr, err := meshclient.Dial(ctx(t), strings.TrimPrefix(srv.URL, "http://"), meshclient.WithHTTP())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	s := open(t, tr, "s", nil)
	body, ctype = `{"code":"E0000000618","message":"not woven with node-z"}`, "application/json"
	expect(t, "a JSON reply", s.Push(ctx(t), "t", []byte("x"), nil), meshclient.ErrNotWoven)
	body, ctype = "bad gateway", "text/plain"
	_, err = s.Peek(ctx(t), "t")
	if err == nil || meshclient.CodeOf(err) != "" || !strings.Contains(err.Error(), `answered HTTP 502 without a PTP reply: "bad gateway"`) {
		t.Fatalf("a non-PTP answer: %v (code %q)", err, meshclient.CodeOf(err))
	}
}
