package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ppcmesh/mesh/host/ptp"
)

// The older Mesh's gRPC delivery of topic t5, payload "with x-ptp-topic"
// (wire sample in testdata's README source, /work/shared/interop).
const oldMeshPushHex = "0a0274351210" + "7769746820782d7074702d746f706963"

// payloadCase is one payload form of the decision table test: the bytes
// sent, and the message they carry when read in that form.
type payloadCase struct {
	name  string
	bytes []byte
	topic string // the topic the payload names; "" if none
	msg   []byte // the message the payload carries in its own form
	form  payloadForm
	any   bool // the same message in every form (the empty payload)
}

func payloadCases(t *testing.T) []payloadCase {
	pb, _ := hex.DecodeString(oldMeshPushHex)
	other, _ := proto.Marshal(&ptp.PushInbound{Topic: "other", Payload: []byte("m")})
	unknown := protowire.AppendTag(append([]byte(nil), pb...), 9, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 1)
	chanBody, _ := json.Marshal(map[string]any{"topic": "t5", "payload": []byte("json msg")})
	inner, _ := json.Marshal(map[string]any{"topic": "t5", "payload": []byte("env msg")})
	env, _ := json.Marshal(map[string]any{"metadata": map[string]string{"x-ptp-session-id": "s"}, "payload": inner})
	return []payloadCase{
		{"raw", []byte("raw message \x00\xff"), "", nil, payloadRaw, false},
		{"PushInbound t5", pb, "t5", []byte("with x-ptp-topic"), payloadProto, false},
		{"PushInbound other", other, "other", []byte("m"), payloadProto, false},
		{"PushInbound+unknown field", unknown, "t5", nil, payloadProto, false},
		{"chan json", chanBody, "t5", []byte("json msg"), payloadJSON, false},
		{"json envelope", env, "t5", []byte("env msg"), payloadJSON, false},
		{"empty", nil, "", nil, payloadRaw, true},
	}
}

// TestInvokeDecisionTable drives decodeInvoke with every (URI form, header
// set, payload form) combination: each is delivered byte-exact — the
// message is what its form carries, under the topic it names — or refused
// with a client code; none is decoded as something other than was sent.
func TestInvokeDecisionTable(t *testing.T) {
	uris := []struct {
		name, uri string
		form      payloadForm
	}{
		{"none", "", payloadRaw},
		{"bare grpc", "/org.ppc.ptp.PrivateTransferTransport/push", payloadProto},
		{"grpcs", "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", payloadProto},
		{"kuscia pkg", "/org.ppc.grpc_ptp.PrivateTransferTransport/push", payloadProto},
		{"bare http", "/v1/interconn/chan/push", payloadJSON},
		{"https", "https://ptp.cn/v1/interconn/chan/push", payloadJSON},
		{"unknown", "/elsewhere/push", -1},
	}
	hdrs := []struct {
		name       string
		topic, frm string
	}{{"no topic", "", ""}, {"topic t5", "t5", ""}, {"marker+t5", "t5", ptp.FormRaw}, {"marker, no topic", "", ptp.FormRaw}, {"bad marker", "t5", "json"}}
	for _, u := range uris {
		for _, h := range hdrs {
			for _, p := range payloadCases(t) {
				t.Run(fmt.Sprintf("%s/%s/%s", u.name, h.name, p.name), func(t *testing.T) {
					md := map[string]string{ptp.HeaderURI: u.uri, ptp.HeaderTopic: h.topic, ptp.HeaderForm: h.frm, ptp.HeaderSessionID: "s"}
					r, err := decodeInvoke(mapHeaders(md), p.bytes)
					checkInvoke(t, r, err, u.form, h.topic, h.frm, p)
				})
			}
		}
	}
}

// checkInvoke asserts the outcome of one decision-table row.
func checkInvoke(t *testing.T, r Request, err error, uriForm payloadForm, topic, marker string, p payloadCase) {
	t.Helper()
	want := uriForm
	if marker == ptp.FormRaw {
		want = payloadRaw
	}
	if err != nil {
		if c, _ := ptp.Describe(err); c != ptp.BadRequest && c != ptp.NoSuchService {
			t.Fatalf("refused with %s, want 400 or 617: %v", c, err)
		}
		return
	}
	switch {
	case marker != "" && marker != ptp.FormRaw:
		t.Fatalf("unknown marker %q accepted", marker)
	case uriForm == -1 && marker == "":
		t.Fatal("unknown x-ptp-uri accepted")
	case want == payloadRaw && (topic == "" || r.Topic != topic):
		t.Fatalf("raw delivery without its header topic: %q", r.Topic)
	case want == payloadRaw && !bytes.Equal(r.Payload, p.bytes):
		t.Fatalf("raw payload changed: %q, sent %q", r.Payload, p.bytes)
	case p.any && len(r.Payload) == 0:
	case want != payloadRaw && p.form != want:
		t.Fatalf("%s payload read as form %d: topic %q payload %q", p.name, want, r.Topic, r.Payload)
	case want != payloadRaw && (!bytes.Equal(r.Payload, p.msg) || r.Topic != p.topic):
		t.Fatalf("%s delivered as topic %q payload %q, sent topic %q payload %q", p.name, r.Topic, r.Payload, p.topic, p.msg)
	case r.Dialect == ptp.DialectKuscia && (marker != "" || topic == ""):
		t.Fatal("kuscia form without its headers")
	}
}

// TestOlderMeshGRPCWithTopicIsThePushInbound is the corruption fixed: the
// older Mesh's PushInbound with x-ptp-topic is read as the PushInbound,
// and one naming another topic than the header is refused.
func TestOlderMeshGRPCWithTopicIsThePushInbound(t *testing.T) {
	pb, _ := hex.DecodeString(oldMeshPushHex)
	get := mapHeaders(map[string]string{ptp.HeaderURI: "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderTopic: "t5"})
	r, err := decodeInvoke(get, pb)
	if err != nil || r.Topic != "t5" || string(r.Payload) != "with x-ptp-topic" {
		t.Fatalf("got %q %q %v", r.Topic, r.Payload, err)
	}
	get = mapHeaders(map[string]string{ptp.HeaderURI: "/org.ppc.ptp.PrivateTransferTransport/push", ptp.HeaderTopic: "t6"})
	if _, err := decodeInvoke(get, pb); err == nil || !strings.Contains(err.Error(), `"t5"`) {
		t.Fatalf("topic mismatch not refused by name: %v", err)
	}
}

// TestOlderMeshHTTPEnvelopeCapture decodes the captured HTTP delivery of
// the older Mesh byte for byte.
func TestOlderMeshHTTPEnvelopeCapture(t *testing.T) {
	var c struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	b, err := os.ReadFile("testdata/oldmesh-http-invoke.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	r, err := decodeInvoke(mapHeaders(c.Headers), []byte(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	if r.Topic != "t2h" || string(r.Payload) != "hello via http" || r.Session != "s2h" || r.TargetNode != "LX0000010000030" {
		t.Fatalf("decoded %+v", r)
	}
	for k := range r.Metadata {
		if ptp.Reserved(k) {
			t.Fatalf("reserved header %s kept as message metadata", k)
		}
	}
}

// TestKusciaWaitIsSecondsClamped checks Kuscia's timeouts: seconds, 1–300.
func TestKusciaWaitIsSecondsClamped(t *testing.T) {
	for in, want := range map[int64]int64{0: 0, -5: 1000, 1: 1000, 60: 60000, 300: 300000, 36000: 300000} {
		if got := kusciaWait(in); got != want {
			t.Errorf("kusciaWait(%d) = %d ms, want %d", in, got, want)
		}
	}
}

// TestKusciaOutboundFieldNumbers decodes Kuscia's reply with Kuscia's
// field numbers: payload=1, code=2, message=3.
func TestKusciaOutboundFieldNumbers(t *testing.T) {
	b := kusciaOutbound(Reply{Code: ptp.OK, Message: "ok", Payload: []byte("p")})
	got := map[protowire.Number]string{}
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.BytesType {
			t.Fatalf("bad tag at %x", b)
		}
		v, m := protowire.ConsumeBytes(b[l:])
		got[n], b = string(v), b[l+m:]
	}
	if got[1] != "p" || got[2] != string(ptp.OK) || got[3] != "ok" {
		t.Fatalf("fields %v", got)
	}
}

// TestClampLogOncePerCaller checks a clamped timeout is told once per
// caller and interval, and that the remembered callers stay bounded.
func TestClampLogOncePerCaller(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	o := newOnceLog(newTextLogger(&buf), time.Hour, 2)
	o.now = func() time.Time { return now }
	for range 5 {
		o.log("a", "clamped")
	}
	o.log("b", "clamped")
	o.log("c", "clamped") // over the bound: silent, not remembered
	if n := strings.Count(buf.String(), "clamped"); n != 2 || len(o.seen) != 2 {
		t.Fatalf("%d lines, %d keys:\n%s", n, len(o.seen), buf.String())
	}
	now = now.Add(time.Hour)
	o.log("a", "clamped")
	if n := strings.Count(buf.String(), "clamped"); n != 3 {
		t.Fatalf("not told again after the interval: %d", n)
	}
}

// TestKusciaHTTPFormRecognised checks the chan form with ?timeout= and an
// invoke without x-ptp-uri are answered in protobuf.
func TestKusciaHTTPFormRecognised(t *testing.T) {
	rec := httptest.NewRecorder()
	replyWriter(true)(rec, httptest.NewRequest("POST", "/v1/interconn/chan/pop?timeout=1", nil), Reply{Code: ptp.BadRequest, Message: "x"})
	if rec.Code != 200 || rec.Header().Get("Content-Type") != kusciaContentType {
		t.Fatalf("kuscia reply %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

func newTextLogger(w *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestGzipRegistered checks the node reads gzip-compressed gRPC: the
// compressor is registered by the server's own packages (no test here
// imports it; the node-level test's client registers gzip in its own
// process, so only this test sees a missing registration).
func TestGzipRegistered(t *testing.T) {
	if encoding.GetCompressor("gzip") == nil {
		t.Fatal("gzip compressor not registered: the older Mesh's gzip calls would fail")
	}
}
