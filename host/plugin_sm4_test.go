package host_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The SM4 keys of the node-level test: 16 bytes as 32 hex characters.
const (
	sm4Key1 = "000102030405060708090a0b0c0d0e0f"
	sm4Key2 = "ff0102030405060708090a0b0c0d0e0f"
)

// TestSM4CodecAcrossNodes: with the C SM4-GCM codec (plugins/sm4) on both
// nodes, 1 MiB arrives at B byte-exact; what crossed the wire (recorded by
// a plaintext proxy) is not the plaintext, and the message A forwarded is
// exactly 28 bytes longer (nonce and tag). With a different key on B, B
// cannot authenticate the message and A's pusher gets E0000000616 naming
// the codec.
func TestSM4CodecAcrossNodes(t *testing.T) {
	wasm := plugintest.LangOf(t, "c").Build(t, "plugins/sm4")
	a, b := pair(t, nil)
	a.Install(t, "sm4", wasm, map[string]string{"key": sm4Key1}, plugin.Options{}, ptp.OK)
	b.Install(t, "sm4", wasm, map[string]string{"key": sm4Key1}, plugin.Options{}, ptp.OK)
	rec := meshtest.Record(t, b.Addr)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": "http://" + rec.Addr,
		"allow_plaintext": true, "codec": "sm4"}, ptp.OK)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)

	secret := make([]byte, 1<<20)
	rand.Read(secret)
	before := a.Host.NetworkStats().ForwardedBytes
	c := &meshtest.HTTPClient{URL: a.URL, Session: "sm4", Target: "node-b", Raw: true}
	if code, err := c.Push(t.Context(), "t", secret); code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: "sm4", Raw: true}).Pop(t.Context(), "t", 5000)
	if code != ptp.OK || !bytes.Equal(got, secret) {
		t.Fatalf("pop at B: %s, %d bytes, equal %v", code, len(got), bytes.Equal(got, secret))
	}
	if sent := a.Host.NetworkStats().ForwardedBytes - before; sent != int64(len(secret))+28 {
		t.Fatalf("A forwarded a %d-byte message for a %d-byte payload, want %d (nonce and tag)", sent, len(secret), len(secret)+28)
	}
	wire := rec.Bytes()
	if len(wire) < len(secret)+28 {
		t.Fatalf("only %d bytes crossed the wire for a %d-byte payload", len(wire), len(secret))
	}
	for _, off := range []int{0, 16, 4096, len(secret)/2 + 7, len(secret) - 32} {
		if bytes.Contains(wire, secret[off:off+32]) {
			t.Fatalf("the plaintext (bytes %d..%d) crossed the wire", off, off+32)
		}
	}

	// Another key on B: B cannot decode, A's pusher hears it.
	b.Install(t, "sm4", wasm, map[string]string{"key": sm4Key2}, plugin.Options{}, ptp.OK)
	r := meshtest.Post(t, a.URL, "/v1/interconn/chan/push", meshtest.Session("sm4", ptp.HeaderTargetNodeID, "node-b", ptp.HeaderTopic, "t"),
		map[string]any{"payload": []byte("for the right key only")})
	if r.Code != ptp.CodecError || !strings.Contains(string(r.Body), "sm4") {
		t.Fatalf("push with mismatched keys: %s %s, want %s naming the codec", r.Code, r.Body, ptp.CodecError)
	}
	t.Logf("mismatched keys: %s", r.Body)
	// A malformed key is refused at install, the running codec stays.
	b.Install(t, "sm4", wasm, map[string]string{"key": "short"}, plugin.Options{}, ptp.BadRequest)
	if rec := pluginRecord(t, b, "sm4"); rec.State != "enabled" {
		t.Fatalf("after a failed reinstall: %+v", rec)
	}
}
