package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ppcmesh/mesh/host/ptp"
)

// FuzzRouteRecord decodes arbitrary bytes as a route table record (the JSON
// a KV entry holds, as table.apply reads it): whatever decodes can be
// entered in the table and asked for its state and usability without a
// panic, and re-encodes stably, so that a record rewritten by an update
// keeps what it held.
func FuzzRouteRecord(f *testing.F) {
	for _, s := range []string{`{"node_id":"p","state":"woven","address":"127.0.0.1:1","guest_root":"x"}`,
		`{"node_id":"p","allow_plaintext":true,"plaintext_from":["10.0.0.0/8","junk"],"address":"http://127.0.0.1:1"}`,
		`{"node_id":"p","expires_at":"2020-01-01T00:00:00+01:00","disabled":true,"handshake":{"commit":"AA==","nonce":null}}`,
		`{"state":7}`, `[]`} {
		f.Add([]byte(s))
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Route
		if json.Unmarshal(b, &r) != nil {
			return
		}
		e := newEntry(r, 1)
		_ = e.Effective(now)
		if err := e.usable(now); err != nil {
			if c, _ := ptp.Describe(err); c == ptp.SystemError || c == ptp.OK {
				t.Fatalf("route %q unusable with code %s: %v", b, c, err)
			}
		}
		_ = e.awaiting()
		once, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("route decoded but does not encode: %v", err)
		}
		var back Route
		if err := json.Unmarshal(once, &back); err != nil {
			t.Fatalf("re-encoded route %s does not decode: %v", once, err)
		}
		if twice, _ := json.Marshal(back); !bytes.Equal(once, twice) {
			t.Fatalf("route changed in a round trip: %s, then %s", once, twice)
		}
	})
}

// FuzzDecodeReply reads arbitrary bytes as a partner's HTTP reply (PTP JSON
// or Kuscia's protobuf): a decoded reply always has a code, in valid UTF-8
// as is its message (both are relayed to containers, in protobuf too), and
// the JSON form gives back exactly the code and message it carried.
func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"code":"E0000000000","message":"ok"}`))
	f.Add([]byte(`{"code":""}`))
	f.Add([]byte{0x12, 0x0b, 'E', '0', '0', '0', '0', '0', '0', '0', '4', '0', '0'})
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		code, msg, ok := decodeReply(b)
		if ok != (code != "") {
			t.Fatalf("reply %q: ok %v with code %q", b, ok, code)
		}
		if !ok {
			return
		}
		// What reaches the container is the code table's and valid UTF-8,
		// however the partner garbled its reply.
		var pe *ptp.Error
		if err := (&link{node: "p"}).answered(code, msg); err != nil {
			if !errors.As(err, &pe) || !pe.Code.Known() || !utf8.ValidString(pe.Msg) || len(pe.Msg) > 2*maxPeerMessage {
				t.Fatalf("reply %q relayed as %#v", b, err)
			}
		}
		if !utf8.ValidString(string(code)) || !utf8.ValidString(msg) {
			return // json.Marshal would replace the invalid bytes
		}
		again, _ := json.Marshal(map[string]string{"code": string(code), "message": msg})
		if c2, m2, ok2 := decodeReply(again); !ok2 || c2 != code || m2 != msg {
			t.Fatalf("reply %q: %q %q, re-encoded %q %q %v", b, code, msg, c2, m2, ok2)
		}
	})
}

// FuzzSameCode compares arbitrary typed authorisation codes: a code always
// matches itself however it is grouped or cased, and the empty code never
// matches.
func FuzzSameCode(f *testing.F) {
	f.Add("ABCD-EFGH-IJKL", "abcd efgh ijkl")
	f.Add("", "")
	f.Add("-", " ")
	f.Add("ß", "SS")
	f.Fuzz(func(t *testing.T, typed, code string) {
		n := normCode(code)
		if normCode(n) != n {
			t.Fatalf("normCode(%q) = %q is not stable", code, n)
		}
		if sameCode(typed, code) != sameCode(normCode(typed), n) {
			t.Fatalf("sameCode(%q, %q) depends on grouping", typed, code)
		}
		if n == "" && sameCode(typed, code) {
			t.Fatalf("the empty code %q matched %q", code, typed)
		}
		if n != "" && !sameCode(code, code) {
			t.Fatalf("code %q does not match itself", code)
		}
	})
}
