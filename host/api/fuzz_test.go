package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// methods are the container-API methods, by a fuzzer's byte.
var methods = [...]ptp.Method{ptp.Push, ptp.Pop, ptp.Peek, ptp.Release}

// wantClientCode fails unless err is nil or carries a client-error code
// and a message: a decoder never answers 500 to what a caller sent.
func wantClientCode(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if c, msg := ptp.Describe(err); c != ptp.BadRequest || msg == "" {
		t.Fatalf("decoder error %q has code %s, want %s with a message", msg, c, ptp.BadRequest)
	}
}

// FuzzDecodeProto decodes arbitrary bytes as the protobuf inner request of
// a gRPC-form invoke: a refusal is a 400, and an accepted push re-encodes
// to the same request, payload byte-exact.
func FuzzDecodeProto(f *testing.F) {
	push, _ := proto.Marshal(&ptp.PushInbound{Topic: "t", Payload: []byte{0, 0xff}, Metadata: map[string]string{"k": "v"}})
	pop, _ := proto.Marshal(&ptp.PopInbound{Topic: "t", Timeout: 100})
	f.Add(byte(0), push)
	f.Add(byte(1), pop)
	f.Add(byte(2), []byte{0x0a, 0x01, 't', 0x98, 0x06, 0x01})
	f.Add(byte(3), []byte{0x0a, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, mb byte, body []byte) {
		m := methods[int(mb)%len(methods)]
		r, err := decodeProto(m, body)
		wantClientCode(t, err)
		if err != nil || m != ptp.Push {
			return
		}
		again, _ := proto.Marshal(&ptp.PushInbound{Topic: r.Topic, Payload: r.Payload, Metadata: r.Metadata})
		r2, err := decodeProto(m, again)
		if err != nil || r2.Topic != r.Topic || !bytes.Equal(r2.Payload, r.Payload) || !maps.Equal(r2.Metadata, r.Metadata) {
			t.Fatalf("push changed in a round trip: %+v, then %+v %v", r, r2, err)
		}
	})
}

// FuzzDecodeInvokeJSON decodes arbitrary bytes as an HTTP-form inner
// request (a chan body or the older Mesh's JSON Inbound envelope): a
// refusal is a 400; an accepted chan push names its payload, an accepted
// envelope its topic, and an envelope re-encoded decodes to the same push.
func FuzzDecodeInvokeJSON(f *testing.F) {
	f.Add([]byte(`{"topic":"t","payload":"eA=="}`), false)
	f.Add([]byte(`{"metadata":{"x-ptp-session-id":"s"},"payload":"eyJ0b3BpYyI6InQiLCJwYXlsb2FkIjoiZUE9PSJ9"}`), false)
	f.Add([]byte(`{"payload":"eA=="}`), true)
	f.Add([]byte(`{"metadata":{},"payload":"e30="}`), true)
	f.Fuzz(func(t *testing.T, body []byte, headerTopic bool) {
		r, err := decodeInvokeJSON(ptp.Push, body, headerTopic)
		wantClientCode(t, err)
		if err != nil {
			return
		}
		_, envErr := decodeEnvelope(body)
		if r.Payload == nil && envErr != nil {
			// The older Mesh's envelope omits an empty payload (omitempty),
			// so there absent is 0 bytes; a chan body must name it.
			t.Fatalf("chan push accepted without a payload: %q", body)
		}
		if envErr == nil && r.Topic == "" {
			t.Fatalf("envelope accepted with no topic: %q", body) // a chan body's is checked by checkRequest
		}
		if hasKey(body, "topic") || r.Topic == "" {
			return
		}
		inner, _ := json.Marshal(jsonPush{Topic: r.Topic, Payload: r.Payload, Metadata: r.Metadata})
		env, _ := json.Marshal(jsonEnvelope{Payload: inner})
		r2, err := decodeEnvelope(env)
		if err != nil || r2.Topic != r.Topic || !bytes.Equal(r2.Payload, r.Payload) {
			t.Fatalf("envelope changed in a round trip: %+v, then %+v %v", r, r2, err)
		}
	})
}

// FuzzDecodeControl decodes arbitrary bytes as each control body: a
// refusal is a 400, and an accepted body re-encodes to the same value
// (nothing it held was dropped on the way; compared encoded, since a time
// decoded from "+00:00" and one from "Z" are the same instant).
func FuzzDecodeControl(f *testing.F) {
	for _, s := range []string{`{"node_id":"p","address":"127.0.0.1:1"}`, `{"node_id":"p","adress":"x"}`,
		`{"node_id":"a","inst_id":"i","code":"ABCD-EFGH"}`, `{"version":"1.0","node_id":"n"} {}`, `{"expires_at":"2026-01-01T00:00:00Z"}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{new(network.RouteRequest), new(network.AckRequest), new(identity.Refresh)} {
			err := decodeControl("control body", body, v)
			wantClientCode(t, err)
			if err != nil {
				continue
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T decoded but does not encode: %v", v, err)
			}
			back := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := decodeControl("control body", again, back); err != nil {
				t.Fatalf("%T re-encoded as %s is refused: %v", v, again, err)
			}
			if twice, _ := json.Marshal(back); !bytes.Equal(twice, again) {
				t.Fatalf("%T changed in a round trip: %s, then %s", v, again, twice)
			}
		}
	})
}

// FuzzApplyHeaders reads arbitrary PTP headers: a refusal is a 400, and
// the header topic, session and timeout are taken as they were sent.
func FuzzApplyHeaders(f *testing.F) {
	f.Add("s", "t", "100", "Bearer x")
	f.Add("", "", " 7 ", "")
	f.Add("s", "", "1e3", "bearer")
	f.Add("\xff", "\x00", "-9223372036854775809", "Bearer ")
	f.Fuzz(func(t *testing.T, session, topic, timeout, auth string) {
		get := mapHeaders(map[string]string{ptp.HeaderSessionID: session, ptp.HeaderTopic: topic,
			ptp.HeaderTimeout: timeout, "authorization": auth})
		r := Request{Topic: "body"}
		err := applyHeaders(get, &r)
		wantClientCode(t, err)
		if err != nil {
			return
		}
		if r.Session != session || (topic != "" && r.Topic != topic) || (topic == "" && r.Topic != "body") {
			t.Fatalf("headers %q %q read as session %q topic %q", session, topic, r.Session, r.Topic)
		}
		if timeout == "" && r.Timeout != 0 {
			t.Fatalf("no timeout header, timeout %d", r.Timeout)
		}
	})
}

// FuzzKusciaQuery reads arbitrary query strings of a Kuscia call: a
// refusal is a 400, and an accepted timeout is never negative.
func FuzzKusciaQuery(f *testing.F) {
	f.Add(kusciaTimeout + "=5")
	f.Add(kusciaTimeout + "=-1")
	f.Add(kusciaTimeout + "=99999999999999999999&x=%zz")
	f.Add("x=1")
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("POST", "/v1/interconn/chan/pop", nil)
		req.URL.RawQuery = q
		var r Request
		err := kusciaQuery(req, &r)
		wantClientCode(t, err)
		if err == nil && r.Timeout < 0 {
			t.Fatalf("query %q: timeout %d", q, r.Timeout)
		}
		if err == nil && r.Dialect == ptp.DialectKuscia && !url.Values(req.URL.Query()).Has(kusciaTimeout) {
			t.Fatalf("query %q: Kuscia dialect without its timeout", q)
		}
	})
}
