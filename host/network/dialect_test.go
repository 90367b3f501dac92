package network

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ppcmesh/mesh/host/ptp"
)

// TestDialectForms checks each dialect's outbound form against the wire
// samples of /work/shared/interop: the older Mesh's gRPC payload (hex) and
// its HTTP body's payload (base64 of the JSON PushInbound), Kuscia's bare
// raw invoke, and Mesh's own marked raw form.
func TestDialectForms(t *testing.T) {
	md := map[string]string{ptp.HeaderSessionID: "s2h"}
	d := Delivery{Topic: "t5", Payload: []byte("with x-ptp-topic")}
	for _, tc := range []struct {
		dialect ptp.Dialect
		uri     string
		payload string // hex
		form    string
	}{
		{ptp.DialectMesh, "/org.ppc.ptp.PrivateTransferTransport/push", hex.EncodeToString(d.Payload), ptp.FormRaw},
		{"", "/org.ppc.ptp.PrivateTransferTransport/push", hex.EncodeToString(d.Payload), ptp.FormRaw},
		{ptp.DialectLegacy, "grpcs://ptp.cn/org.ppc.ptp.PrivateTransferTransport/push", "0a02743512107769746820782d7074702d746f706963", ""},
		{ptp.DialectKuscia, "", hex.EncodeToString(d.Payload), ""},
	} {
		in, err := formOf(tc.dialect).grpcInbound(md, d)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(in.Payload); got != tc.payload || in.Metadata[ptp.HeaderURI] != tc.uri ||
			in.Metadata[ptp.HeaderForm] != tc.form || in.Metadata[ptp.HeaderTopic] != "t5" || in.Metadata[ptp.HeaderSessionID] != "s2h" {
			t.Errorf("%q: payload %s, headers %v", tc.dialect, got, in.Metadata)
		}
	}
	if f := formOf(ptp.DialectMesh); !f.streams || formOf(ptp.DialectLegacy).streams || formOf(ptp.DialectKuscia).streams {
		t.Error("only the mesh dialect may use transport streams")
	}
	if !formOf(ptp.DialectLegacy).gzip || formOf(ptp.DialectKuscia).method != "/org.ppc.grpc_ptp.PrivateTransferProtocol/invoke" {
		t.Error("legacy is gzip-compressed; kuscia invokes org.ppc.grpc_ptp")
	}
}

// TestLegacyHTTPBody: the JSON HTTP form matches the older Mesh's captured
// delivery of topic t2h, payload "hello via http".
func TestLegacyHTTPBody(t *testing.T) {
	md := map[string]string{ptp.HeaderSessionID: "s2h", ptp.HeaderSourceNodeID: "LX0000010000010"}
	b, ctype, err := legacyBody(md, Delivery{Topic: "t2h", Payload: []byte("hello via http")})
	if err != nil || ctype != "application/json" {
		t.Fatal(ctype, err)
	}
	var env struct {
		Metadata map[string]string `json:"metadata"`
		Payload  string            `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	const captured = "eyJ0b3BpYyI6InQyaCIsInBheWxvYWQiOiJhR1ZzYkc4Z2RtbGhJR2gwZEhBPSJ9"
	if env.Payload != captured || env.Metadata[ptp.HeaderSessionID] != "s2h" || env.Metadata[ptp.HeaderURI] != "" {
		t.Fatalf("body %s", b)
	}
}

// TestRefusalsAreFinal: every deterministic refusal fails at once; the
// codes a retry may change, and transport failures, are retried.
func TestRefusalsAreFinal(t *testing.T) {
	l := &link{node: "p"}
	final := []error{l.failed(status.Error(codes.Unimplemented, "x")), l.failed(status.Error(codes.InvalidArgument, "x"))}
	for _, c := range []ptp.Code{ptp.BadRequest, ptp.Unauthorized, ptp.NotFound, ptp.TooLarge, ptp.Incompatible,
		ptp.CertificateError, ptp.TokenExpired, ptp.NetworkExpired, ptp.PeerDisabled, ptp.NotPermitted, ptp.BadSignature,
		ptp.CodecError, ptp.NoSuchService, ptp.NotWoven, ptp.BadAddress} {
		final = append(final, l.answered(c, "refused"))
	}
	for _, err := range final {
		if retryable(err) {
			t.Errorf("%v is retried", err)
		}
	}
	for _, err := range []error{l.answered(ptp.SystemError, "x"), l.answered(ptp.BufferFull, "x"), l.answered(ptp.Timeout, "x"),
		l.failed(status.Error(codes.Unavailable, "x")), l.failed(errors.New("reset"))} {
		if !retryable(err) {
			t.Errorf("%v is not retried", err)
		}
	}
}

// TestKusciaReply reads Kuscia's protobuf HTTP reply and PTP JSON.
func TestKusciaReply(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("content"))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, string(ptp.BadRequest))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, "missing header")
	for _, tc := range []struct {
		in   []byte
		code ptp.Code
		ok   bool
	}{
		{b, ptp.BadRequest, true},
		{[]byte(`{"code":"E0000000000","message":"ok"}`), ptp.OK, true},
		{[]byte("<html>"), "", false},
		{b[:5], "", false},
	} {
		if c, _, ok := decodeReply(tc.in); c != tc.code || ok != tc.ok {
			t.Errorf("%q: %s %v", tc.in, c, ok)
		}
	}
}

// FuzzKusciaReply: no reply crashes the decoder.
func FuzzKusciaReply(f *testing.F) {
	f.Add([]byte{0x12, 0x01, 'E'})
	f.Fuzz(func(t *testing.T, b []byte) { _, _, _ = decodeReply(b) })
}

// TestCheckDialect accepts the table's names and "" only.
func TestCheckDialect(t *testing.T) {
	for _, d := range []string{"", "mesh", "legacy", "kuscia"} {
		if err := CheckDialect(d); err != nil {
			t.Error(err)
		}
	}
	if err := CheckDialect("fate"); err == nil {
		t.Error("fate accepted")
	}
}
