package plugin

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// open builds the Go guest in dir and loads it as kind k (see openFile).
func open(tb testing.TB, dir string, k Kind, config map[string]string, o Options) *loaded {
	tb.Helper()
	l, _ := openFile(tb, plugintest.Build(tb, dir), k, config, o)
	return l
}

var sharedCache string

// cacheDir is one compilation cache for the package's tests, so each
// module is compiled once per run.
func cacheDir(tb testing.TB) string {
	if sharedCache == "" {
		dir, err := os.MkdirTemp("", "mesh-plugin-cache")
		if err != nil {
			tb.Fatal(err)
		}
		sharedCache = dir
	}
	return sharedCache
}

func TestMain(m *testing.M) {
	code := m.Run()
	plugintest.Cleanup()
	if sharedCache != "" {
		os.RemoveAll(sharedCache)
	}
	os.Exit(code)
}

// TestHostileCodecInstanceIsReplaced: each hostile behaviour fails its own
// call, discards the instance that misbehaved, and the next call works.
func TestHostileCodecInstanceIsReplaced(t *testing.T) {
	// 1 s, not less: a replacement's instantiation counts against the next
	// call's deadline, and takes hundreds of ms under -race on a busy machine.
	l := open(t, "host/plugin/testdata/hostile/codec", Codec, nil, Options{TimeoutMs: 1000, MaxMemoryMB: 32, Pool: 1})
	ctx := context.Background()
	const timedOut = "did not finish within 1s"
	for _, c := range []struct {
		mode string
		want []string // the error says one of these
	}{
		{"loop", []string{timedOut}},
		{"trap", []string{"wasm error: unreachable"}},
		// The guest's allocator fails at the memory cap and aborts, unless
		// the deadline comes first (a slow machine, -race).
		{"bomb", []string{"wasm error: unreachable", timedOut}},
		{"garbage", []string{"outside the guest's"}},
	} {
		mode := c.mode
		before := l.pool.discarded.Load()
		if _, err := l.call(ctx, ExportEncode, []byte(mode)); err == nil || !containsAny(err.Error(), c.want) {
			t.Fatalf("%s: %v, want an error saying one of %q", mode, err, c.want)
		} else {
			t.Logf("%s: %v", mode, err)
		}
		if got := l.pool.discarded.Load(); got != before+1 {
			t.Fatalf("%s: %d instances discarded, want %d", mode, got, before+1)
		}
		if out, err := l.call(ctx, ExportEncode, []byte("fine")); err != nil || string(out) != "fine" {
			t.Fatalf("after %s: %q %v", mode, out, err)
		}
	}
}

// containsAny reports whether s contains one of subs.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestAuthFollowsReplacement: a decision asked of a policy that was
// replaced meanwhile is made by the new version, not refused or spun on.
func TestAuthFollowsReplacement(t *testing.T) {
	old := open(t, "plugins/token", Auth, map[string]string{"tokens": "good"}, Options{})
	next := open(t, "plugins/token", Auth, map[string]string{"tokens": "good"}, Options{})
	next.rec.Name = old.rec.Name
	r := &Registry{auth: newDecisions(), running: map[string]*loaded{old.rec.Name: next}}
	old.pool.retire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := r.decide(ctx, old, AuthRequest{Method: "push", Session: "s", Token: "good", Caller: "container"})
	if err != nil || !d.Allow || next.pool.calls.Load() != 1 {
		t.Fatalf("decision after replacement: %+v %v (calls on the new version: %d)", d, err, next.pool.calls.Load())
	}
}

// FuzzRawCall drives the hostile codec with arbitrary inputs, which choose
// its behaviour and, for garbage, the pointer and length it answers: the
// host must turn every answer into output or an error, never a panic or a
// read outside the guest's memory.
func FuzzRawCall(f *testing.F) {
	l := open(f, "host/plugin/testdata/hostile/codec", Codec, nil, Options{TimeoutMs: 200, MaxMemoryMB: 32, Pool: 1})
	for _, seed := range []string{"", "x", "trap", "garbage", "garbage\xff\xff\xff\xff", "hello world"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.HasPrefix(in, []byte("loop")) || bytes.HasPrefix(in, []byte("bomb")) {
			return // slow by design; covered by the test above
		}
		out, err := l.call(context.Background(), ExportDecode, in)
		if err == nil && !bytes.Equal(out, in) && !bytes.HasPrefix(in, []byte("garbage")) {
			t.Fatalf("identity codec changed %q into %q", in, out)
		}
	})
}

// FuzzGuestJSON feeds arbitrary bytes to the decoders of auth and route
// answers: whatever decodes survives a round trip unchanged, and a route
// answer is accepted exactly when it names an action the node can take
// (forward only with a target); a refusal names the handler.
func FuzzGuestJSON(f *testing.F) {
	for _, seed := range []string{`{"allow":true}`, `{"allow":true,"ttl_ms":"x"}`, `{"action":"forward"}`,
		`{"action":"forward","target":"node:b"}`, `{"action":"respond","body":"aGk="}`, `{"action":"next"}`,
		`{"action":"explode"}`, `{}`, `null`, `[]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d AuthDecision
		if json.Unmarshal(b, &d) == nil {
			roundTrips(t, d)
		}
		var r RouteResponse
		if json.Unmarshal(b, &r) != nil {
			return
		}
		roundTrips(t, r)
		valid := (r.Action == ActionRespond || r.Action == ActionNext) || (r.Action == ActionForward && r.Target != "")
		switch err := checkRouteResponse("handler-x", r); {
		case valid && err != nil:
			t.Fatalf("%s: a valid answer refused: %v", b, err)
		case !valid && err == nil:
			t.Fatalf("%s: an answer the node cannot act on was accepted: %+v", b, r)
		case err != nil && !strings.Contains(err.Error(), "handler-x"):
			t.Fatalf("%s: the refusal does not name the handler: %v", b, err)
		}
	})
}

// roundTrips checks that v, decoded from a guest's answer, encodes, decodes
// and encodes again to the same bytes: nothing a guest says is half-read.
func roundTrips[T any](t *testing.T, v T) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %+v: %v", v, err)
	}
	var back T
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	if again, _ := json.Marshal(back); !bytes.Equal(again, enc) {
		t.Fatalf("round trip changed %s into %s", enc, again)
	}
}

func TestUnpack(t *testing.T) {
	for _, tc := range []struct {
		ptr, n uint32
		err    bool
	}{{0, 0, false}, {1, 2, false}, {1<<31 - 1, 1<<32 - 1, true}, {65536, 0, true}} {
		v := Pack(tc.ptr, tc.n)
		if tc.err {
			v = PackError(tc.ptr, tc.n)
		}
		p, n, e := Unpack(v)
		if p != tc.ptr || n != tc.n || e != tc.err {
			t.Fatalf("%+v: got %d %d %v", tc, p, n, e)
		}
	}
}

func payload(n int) []byte {
	line := []byte("tensor block 0042: 0.000 0.000 0.125 0.250 0.500 1.000\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

// benchSizes are the payload sizes every plugin benchmark runs.
var benchSizes = []int{1 << 10, 64 << 10}

// benchCall runs fn of l over in as sub-benchmark name.
func benchCall(b *testing.B, name string, l *loaded, fn string, in []byte, size int) {
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.call(context.Background(), fn, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchNative runs the same algorithm natively, as the ratio's baseline.
func benchNative(b *testing.B, name string, size int, f func()) {
	b.Run(name, func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			f()
		}
	})
}

// BenchmarkCodecCall is the cost of one call through the raw ABI: an
// identity codec, so the figure is the host↔guest crossing and copies.
func BenchmarkCodecCall(b *testing.B) {
	l := open(b, "host/plugin/testdata/hostile/codec", Codec, nil, Options{})
	for _, size := range benchSizes {
		benchCall(b, fmt.Sprintf("identity/%dKiB", size>>10), l, ExportEncode, payload(size), size)
	}
}

// BenchmarkGzip compares gzip through the plugin with the same standard
// library code run natively: the ratio is the price of the sandbox.
func BenchmarkGzip(b *testing.B) {
	l := open(b, "plugins/gzip", Codec, map[string]string{"level": "6"}, Options{})
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, 6)
	for _, size := range benchSizes {
		in := payload(size)
		benchCall(b, fmt.Sprintf("plugin/%dKiB", size>>10), l, ExportEncode, in, size)
		benchNative(b, fmt.Sprintf("native/%dKiB", size>>10), size, func() { // the writer reused, as the plugin does
			buf.Reset()
			w.Reset(&buf)
			w.Write(in)
			w.Close()
		})
	}
}

// BenchmarkAuth is one decision of the token policy: from the cache, and
// computed afresh by the plugin (a new token every call).
func BenchmarkAuth(b *testing.B) {
	l := open(b, "plugins/token", Auth, map[string]string{"tokens": "good"}, Options{})
	r := &Registry{auth: newDecisions(), running: map[string]*loaded{l.rec.Name: l}}
	req := AuthRequest{Method: "push", Session: "s", Topic: "t", Token: "good", Caller: "container"}
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, err := r.decide(ctx, l, req); err != nil || !d.Allow {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			req.Session = fmt.Sprint("s", i)
			if d, err := r.decide(ctx, l, req); err != nil || !d.Allow {
				b.Fatal(d, err)
			}
		}
	})
}

// BenchmarkExtismCall is one call through the Extism ABI: the route
// example answering a request whose body is 1 KiB or 64 KiB.
func BenchmarkExtismCall(b *testing.B) {
	l := open(b, "sdk/plugin/go/examples/route", Route, nil, Options{Prefixes: []string{"/"}})
	for _, size := range benchSizes {
		in, _ := json.Marshal(RouteRequest{Method: "POST", Path: "/hello", Body: payload(size)})
		benchCall(b, fmt.Sprintf("route/%dKiB", size>>10), l, ExportHandle, in, size)
	}
}

// BenchmarkAESGCM compares AES-256-GCM sealing through the plugin with the
// standard library run natively (which uses the CPU's AES instructions;
// the guest cannot).
func BenchmarkAESGCM(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	l := open(b, "plugins/aesgcm", Codec, map[string]string{"key": fmt.Sprintf("%x", key)}, Options{})
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	for _, size := range benchSizes {
		in := payload(size)
		out := make([]byte, 0, size+64)
		benchCall(b, fmt.Sprintf("plugin/%dKiB", size>>10), l, ExportEncode, in, size)
		benchNative(b, fmt.Sprintf("native/%dKiB", size>>10), size, func() {
			rand.Read(nonce)
			out = gcm.Seal(append(out[:0], nonce...), nonce, in, nil)
		})
	}
}
