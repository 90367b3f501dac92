package host_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestKitExamplesOnNodes installs every plugin kit's three examples
// (sdk/plugin/<lang>/examples/{codec,auth,route}, built from source with
// the kit's own build script) on real nodes and drives them as a user
// would: the xor codec carries payloads between two nodes byte-exact and
// what crosses the wire is the XORed form; the allow-list policy admits
// and refuses a partner; the hello handler answers and passes on. Every
// language meets the same expectations.
func TestKitExamplesOnNodes(t *testing.T) {
	for _, l := range plugintest.Langs { // start every build at once
		for _, kind := range []string{"codec", "auth", "route"} {
			l.Start(l.ExampleDir(kind))
		}
	}
	a, b := pair(t, nil)
	// A reaches B through a plaintext recorder, so the test sees the wire.
	rec := meshtest.Record(t, b.Addr)
	a.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-b", "address": "http://" + rec.Addr, "allow_plaintext": true}, ptp.OK)
	b.Control(t, "/v1/interconn/net/refresh", map[string]any{"node_id": "node-a", "allow_plaintext": true}, ptp.OK)

	for _, l := range plugintest.Langs {
		t.Run(l.Name, func(t *testing.T) {
			t.Run("codec", func(t *testing.T) { kitCodec(t, l, a, b, rec) })
			t.Run("auth", func(t *testing.T) { kitAuth(t, l, a, b) })
			t.Run("route", func(t *testing.T) { kitRoute(t, l, a) })
		})
	}
}

// kitCodec: the xor example with key 0x21 on both nodes, chosen per push.
func kitCodec(t *testing.T, l plugintest.Lang, a, b *meshtest.Node, rec *meshtest.Recorder) {
	wasm := l.Example(t, "codec")
	name := "xor-" + l.Name
	for _, n := range []*meshtest.Node{a, b} {
		n.Install(t, name, wasm, map[string]string{"key": "0x21"}, plugin.Options{}, ptp.OK)
	}
	r := b.Install(t, name+"-bad", wasm, map[string]string{"key": "300"}, plugin.Options{}, ptp.BadRequest)
	if want := `xor: key must be a byte (0-255), got "300"`; !strings.Contains(r.Message, want) {
		t.Errorf("install with a bad key: %q; want the plugin's message %q", r.Message, want)
	}

	for _, size := range []int{0, 1, 1000, 1 << 20} {
		payload := make([]byte, size)
		rand.Read(payload)
		session := fmt.Sprintf("kit-%s-%d", l.Name, size)
		c := &meshtest.HTTPClient{URL: a.URL, Session: session, Target: "node-b", Raw: true,
			Headers: map[string]string{ptp.HeaderCodec: name}}
		before := len(rec.Bytes())
		if code, err := c.Push(t.Context(), "t", payload); code != ptp.OK {
			t.Fatalf("push %d bytes: %s %v", size, code, err)
		}
		got, code, _ := (&meshtest.HTTPClient{URL: b.URL, Session: session, Raw: true}).Pop(t.Context(), "t", 5000)
		if code != ptp.OK || !bytes.Equal(got, payload) {
			t.Fatalf("pop at B of %d bytes: %s, %d bytes, equal %v", size, code, len(got), bytes.Equal(got, payload))
		}
		if size < 1000 {
			continue
		}
		if xored, plain := onTheWire(rec.Bytes()[before:], payload[:1000]); xored < 18 || plain > 0 {
			t.Fatalf("the %d-byte push did not cross the wire XORed with 0x21: %d of 20 pieces of its head XORed there, %d in plain", size, xored, plain)
		}
	}
}

// onTheWire counts the 50-byte pieces of head found on the wire XORed with
// 0x21, and those found in plain. HTTP/2 may cut a message into frames
// anywhere, so a frame header can land inside head: that breaks at most a
// piece or two, never the count of plain pieces, which must be none.
func onTheWire(wire, head []byte) (xored, plain int) {
	for i := 0; i+50 <= len(head); i += 50 {
		piece := head[i : i+50]
		if bytes.Contains(wire, xorBytes(piece, 0x21)) {
			xored++
		}
		if bytes.Contains(wire, piece) {
			plain++
		}
	}
	return xored, plain
}

// xorBytes is the xor example's encoding, written independently.
func xorBytes(p []byte, key byte) []byte {
	out := make([]byte, len(p))
	for i, c := range p {
		out[i] = c ^ key
	}
	return out
}

// kitAuth: the allow-list on B admits A when it names node-a, refuses it
// otherwise (a partner is told which policy refused, not its reason), and
// admits B's own containers either way.
func kitAuth(t *testing.T, l plugintest.Lang, a, b *meshtest.Node) {
	wasm := l.Example(t, "auth")
	name := "allow-" + l.Name
	t.Cleanup(func() { b.Control(t, "/v1/interconn/plugin/remove", map[string]string{"name": name}, ptp.OK) })
	push := func() (ptp.Code, string) {
		ans, err := (&meshtest.HTTPClient{URL: a.URL, Session: "kit-auth-" + l.Name, Target: "node-b", Raw: true}).Call(t.Context(), ptp.Push, "t", []byte("from A"), 0)
		if err != nil && ans.Code == "" {
			t.Fatal(err)
		}
		return ans.Code, ans.Message
	}
	b.Install(t, name, wasm, map[string]string{"nodes": "node-x,node-a"}, plugin.Options{}, ptp.OK)
	if code, msg := push(); code != ptp.OK {
		t.Fatalf("a listed partner's push: %s %s", code, msg)
	}
	b.Install(t, name, wasm, map[string]string{"nodes": "node-x"}, plugin.Options{}, ptp.OK)
	if code, msg := push(); code != ptp.Unauthorized || !strings.Contains(msg, "refused by auth policy "+name) {
		t.Fatalf("an unlisted partner's push: %s %q; want %s from policy %s", code, msg, ptp.Unauthorized, name)
	}
	if code, err := (&meshtest.HTTPClient{URL: b.URL, Session: "kit-auth-own-" + l.Name, Raw: true}).Push(t.Context(), "t", []byte("own")); code != ptp.OK {
		t.Fatalf("B's own container: %s %v", code, err)
	}
}

// kitRoute: the hello handler greets GET /hello by its configured name and
// leaves every other request to the node.
func kitRoute(t *testing.T, l plugintest.Lang, a *meshtest.Node) {
	wasm := l.Example(t, "route")
	name := "hello-" + l.Name
	a.Install(t, name, wasm, map[string]string{"name": l.Name}, plugin.Options{Prefixes: []string{"/hello"}}, ptp.OK)
	defer a.Control(t, "/v1/interconn/plugin/remove", map[string]string{"name": name}, ptp.OK)
	get := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, a.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	resp, body := get("GET", "/hello")
	if resp.StatusCode != 200 || body != "Hello from "+l.Name+"\n" || resp.Header.Get("content-type") != "text/plain; charset=utf-8" {
		t.Fatalf("GET /hello: %d %q (content-type %q)", resp.StatusCode, body, resp.Header.Get("content-type"))
	}
	for _, tc := range []struct{ method, path string }{{"POST", "/hello"}, {"GET", "/hello/there"}} {
		if resp, body := get(tc.method, tc.path); resp.StatusCode == 200 || strings.Contains(body, "Hello from") {
			t.Fatalf("%s %s should pass on to the node: %d %q", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}
