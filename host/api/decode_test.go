package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
)

// checkDecoded holds for any decoded request, whatever the input.
func checkDecoded(t *testing.T, r Request, err error) {
	if err == nil {
		return
	}
	c, msg := ptp.Describe(err)
	if c == ptp.OK || c == ptp.SystemError || msg == "" {
		t.Fatalf("decoder error without a client code: %v", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"topic":"t","payload":"aGVsbG8=","metadata":{"k":"v"}}`))
	f.Add([]byte(`{"topic":"t","content":"","timeout":100}`))
	f.Add([]byte(`{"topic":5}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []ptp.Method{ptp.Push, ptp.Pop} {
			r, err := decodeJSON(m, body)
			checkDecoded(t, r, err)
		}
	})
}

func FuzzDecodeInvoke(f *testing.F) {
	push, _ := proto.Marshal(&ptp.PushInbound{Topic: "t", Payload: []byte("x"), Metadata: map[string]string{"a": "b"}})
	f.Add("/org.ppc.ptp.PrivateTransferTransport/push", "", "", "", push)
	f.Add("/org.ppc.ptp.PrivateTransferTransport/push", "t", "", "", push)
	f.Add("grpcs://h/org.ppc.ptp.PrivateTransferTransport/pop", "", "100", "", []byte{0x0a, 0x01, 't', 0x10, 0x64})
	f.Add("https://h/v1/interconn/chan/push", "", "", "", []byte(`{"topic":"t","payload":"eA=="}`))
	f.Add("https://h/v1/interconn/chan/push", "", "", "", []byte(`{"metadata":{},"payload":"eyJ0b3BpYyI6InQiLCJwYXlsb2FkIjoiZUE9PSJ9"}`))
	f.Add("/v1/interconn/chan/push", "topic", "", ptp.FormRaw, []byte("raw"))
	f.Add("", "topic", "", "", []byte("kuscia raw"))
	f.Add("::::", "", "x", "", []byte{0xff})
	f.Fuzz(func(t *testing.T, uri, topic, timeout, form string, payload []byte) {
		get := mapHeaders(map[string]string{ptp.HeaderURI: uri, ptp.HeaderTopic: topic, ptp.HeaderTimeout: timeout, ptp.HeaderForm: form})
		r, err := decodeInvoke(get, payload)
		checkDecoded(t, r, err)
		if err == nil && topic != "" && r.Topic != topic {
			t.Fatalf("header topic %q lost: %q", topic, r.Topic)
		}
		if err == nil && r.Method == ptp.Push && (form == ptp.FormRaw || uri == "") && !bytes.Equal(r.Payload, payload) {
			t.Fatalf("raw payload changed: %q, sent %q", r.Payload, payload)
		}
	})
}

func TestParseURIForms(t *testing.T) {
	cases := []struct {
		uri  string
		m    ptp.Method
		form ptp.Form
		ok   bool
	}{
		{"/v1/interconn/chan/push", ptp.Push, ptp.FormHTTP, true},
		{"https://10.1.1.1:8443/v1/interconn/chan/pop?x=1", ptp.Pop, ptp.FormHTTP, true},
		{"grpcs://node-b/org.ppc.ptp.PrivateTransferTransport/peek", ptp.Peek, ptp.FormGRPC, true},
		{"org.ppc.ptp.PrivateTransferTransport/release", ptp.Release, ptp.FormGRPC, true},
		{"/org.ppc.grpc_ptp.PrivateTransferTransport/Push", ptp.Push, ptp.FormGRPC, true},
		{"/v1/interconn/chan/invoke", "", 0, false},
		{"/other/push", "", 0, false},
		{"", "", 0, false},
		{"grpcs://host-only", "", 0, false},
	}
	for _, c := range cases {
		m, form, ok := ptp.ParseURI(c.uri)
		if m != c.m || form != c.form || ok != c.ok {
			t.Errorf("ParseURI(%q) = %q %v %v", c.uri, m, form, ok)
		}
	}
}

func TestControlEndpointsRefuseRemoteCallersWithoutToken(t *testing.T) {
	h := &Handler{adminToken: "s3cret"}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	guarded := guard(h.operator)(ok)
	cases := []struct {
		remote, auth string
		want         int
	}{
		{"127.0.0.1:5000", "", 299},
		{"[::1]:5000", "", 299},
		{"192.0.2.10:5000", "", http.StatusForbidden},
		{"192.0.2.10:5000", "Bearer wrong", http.StatusForbidden},
		{"192.0.2.10:5000", "Bearer s3cret", 299},
	}
	for _, c := range cases {
		req := httptest.NewRequest("POST", "/v1/interconn/node/refresh", nil)
		req.RemoteAddr = c.remote
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s %q: got %d want %d", c.remote, c.auth, rec.Code, c.want)
		}
	}
	// Without a configured token, remote callers never get in.
	h.adminToken = ""
	req := httptest.NewRequest("POST", "/", nil)
	req.RemoteAddr = "192.0.2.10:1"
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	guard(h.operator)(ok).ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("empty token let a remote caller in: %d", rec.Code)
	}
}
