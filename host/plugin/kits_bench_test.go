package plugin

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// BenchmarkKits is the per-call cost of each kit's examples, called as a
// node calls them (through the pool, bounded by the kind's deadline), at
// 1 KiB and 64 KiB, every language in one run, next to native Go doing
// the same work. codec/identity is the xor example with key 0, which
// returns its input: the host-guest crossing and copies alone. codec/xor
// is key 0x5a, the same light work in every language. auth is the
// allow-list deciding a partner push whose token pads the document to the
// size (JSON in, JSON out); route is the hello handler answering a GET
// /hello that carries a body of the size (base64 in the JSON). Run:
//
//	go test ./host/plugin -run '^$' -bench Kits -benchtime 2000x
func BenchmarkKits(b *testing.B) {
	for _, l := range plugintest.Langs {
		for _, kind := range []string{"codec", "auth", "route"} {
			l.Start(l.ExampleDir(kind))
		}
	}
	for _, size := range benchSizes {
		in := payload(size)
		benchNative(b, fmt.Sprintf("codec/xor/native/%dKiB", size>>10), size, func() { nativeXor(in, 0x5a) })
	}
	for _, l := range plugintest.Langs {
		identity, _ := openFile(b, l.Example(b, "codec"), Codec, map[string]string{"key": "0"}, Options{})
		xor, _ := openFile(b, l.Example(b, "codec"), Codec, map[string]string{"key": "0x5a"}, Options{})
		auth, _ := openFile(b, l.Example(b, "auth"), Auth, map[string]string{"nodes": "node-b"}, Options{})
		route, _ := openFile(b, l.Example(b, "route"), Route, nil, Options{Prefixes: []string{"/hello"}})
		for _, size := range benchSizes {
			in, kib := payload(size), size>>10
			benchCall(b, fmt.Sprintf("codec/identity/%s/%dKiB", l.Name, kib), identity, ExportEncode, in, size)
			benchCall(b, fmt.Sprintf("codec/xor/%s/%dKiB", l.Name, kib), xor, ExportEncode, in, size)
			benchCall(b, fmt.Sprintf("auth/%s/%dKiB", l.Name, kib), auth, ExportAuthorize, authInput(b, size), size)
			benchCall(b, fmt.Sprintf("route/%s/%dKiB", l.Name, kib), route, ExportHandle, routeInput(b, in), size)
		}
	}
}

// nativeXor is the xor example's work in native Go, in place.
func nativeXor(p []byte, key byte) {
	k := uint64(key) * 0x0101010101010101
	le := binary.LittleEndian
	i := 0
	for ; i+8 <= len(p); i += 8 {
		le.PutUint64(p[i:], le.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= key
	}
}

// authInput is a partner push from node-b whose token pads the document.
func authInput(tb testing.TB, size int) []byte {
	in, err := json.Marshal(AuthRequest{Method: "push", Session: "s", Topic: "t", SourceNode: "node-b",
		TargetNode: "node-a", Token: strings.Repeat("t", size), TLSIdentity: "node-b", Caller: "partner", Now: 1767225600})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

// routeInput is GET /hello carrying body.
func routeInput(tb testing.TB, body []byte) []byte {
	in, err := json.Marshal(RouteRequest{Method: "GET", Path: "/hello", Body: body,
		Headers: map[string]string{"accept": "text/plain"}})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}
