package ptp

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// envelopes are fresh values of every PTP/1.0 message.
func envelopes() []proto.Message {
	return []proto.Message{new(Inbound), new(Outbound), new(PeekInbound), new(PopInbound),
		new(PushInbound), new(ReleaseInbound), new(TransportOutbound)}
}

// FuzzEnvelopes decodes arbitrary bytes as each PTP message: whatever
// decodes re-encodes to a message that decodes to the same value, so that a
// node relaying a message never changes it.
func FuzzEnvelopes(f *testing.F) {
	seeds := []proto.Message{
		&Inbound{Metadata: map[string]string{HeaderURI: "/v1/interconn/chan/push"}, Payload: []byte{0, 0xff}},
		&PushInbound{Topic: "t", Payload: []byte("x"), Metadata: map[string]string{"k": "v"}},
		&PopInbound{Topic: "t", Timeout: -1},
		&TransportOutbound{Code: string(OK), Payload: []byte("p")},
	}
	for _, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range envelopes() {
			if proto.Unmarshal(b, m) != nil {
				continue
			}
			again, err := proto.Marshal(m)
			if err != nil {
				t.Fatalf("%T decoded but does not encode: %v", m, err)
			}
			back := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(again, back); err != nil || !proto.Equal(m, back) {
				t.Fatalf("%T changed in a round trip: %v", m, err)
			}
		}
	})
}

// FuzzParseURI reads arbitrary x-ptp-uri values: a parsed one names a
// container-API method and form, and a bare path parses the same with a
// trailing slash or any scheme and host in front.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"/v1/interconn/chan/push", "grpcs://h/org.ppc.ptp.PrivateTransferTransport/pop",
		"https://x:1/v1/interconn/chan/PEEK?x#y", "/org.ppc.grpc_ptp.PrivateTransferTransport/release/", "::://", "%zz://a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		m, form, ok := ParseURI(uri)
		if !ok {
			if m != "" || form != 0 {
				t.Fatalf("%q: refused but answered %q %d", uri, m, form)
			}
			return
		}
		switch m {
		case Push, Pop, Peek, Release:
		default:
			t.Fatalf("%q: parsed to method %q", uri, m)
		}
		if form != FormHTTP && form != FormGRPC {
			t.Fatalf("%q: parsed to form %d", uri, form)
		}
		if strings.Contains(uri, "://") || !strings.HasPrefix(uri, "/") || strings.ContainsAny(uri, "?#%") {
			return
		}
		for _, v := range []string{uri + "/", "grpcs://any-host" + uri} {
			if m2, f2, ok2 := ParseURI(v); !ok2 || m2 != m || f2 != form {
				t.Fatalf("%q parses to %q %d, but %q to %q %d %v", uri, m, form, v, m2, f2, ok2)
			}
		}
	})
}
