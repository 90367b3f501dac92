package plugin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// open builds the Go guest in dir and loads it as kind k.
func open(tb testing.TB, dir string, k Kind, config map[string]string, o Options) *loaded {
	tb.Helper()
	wasm, err := os.ReadFile(plugintest.Build(tb, dir))
	if err != nil {
		tb.Fatal(err)
	}
	e, err := NewEngine(cacheDir(tb), nil)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := e.load(context.Background(), Record{Name: strings.ReplaceAll(dir, "/", "-"), Kind: k, Config: config, Options: o}, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.pool.retire(context.Background()); e.Close(context.Background()) })
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
	l := open(t, "host/plugin/testdata/hostile/codec", Codec, nil, Options{TimeoutMs: 200, MaxMemoryMB: 32, Pool: 1})
	ctx := context.Background()
	for _, mode := range []string{"loop", "trap", "bomb", "garbage"} {
		before := l.pool.discarded.Load()
		if _, err := l.call(ctx, ExportEncode, []byte(mode)); err == nil {
			t.Fatalf("%s: no error", mode)
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
// answers: they must fail cleanly.
func FuzzGuestJSON(f *testing.F) {
	f.Add([]byte(`{"allow":true}`))
	f.Add([]byte(`{"action":"forward"}`))
	f.Add([]byte(`{"action":"respond","body":"aGk="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d AuthDecision
		_ = json.Unmarshal(b, &d)
		var r RouteResponse
		if json.Unmarshal(b, &r) == nil {
			_ = checkRouteResponse("x", r)
		}
	})
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

// BenchmarkCodecCall is the cost of one call through the raw ABI: an
// identity codec, so the figure is the host↔guest crossing and copies.
func BenchmarkCodecCall(b *testing.B) {
	l := open(b, "host/plugin/testdata/hostile/codec", Codec, nil, Options{})
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("identity/%dKiB", size>>10), func(b *testing.B) {
			in := payload(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.call(context.Background(), ExportEncode, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGzip compares gzip through the plugin with the same standard
// library code run natively: the ratio is the price of the sandbox.
func BenchmarkGzip(b *testing.B) {
	l := open(b, "plugins/gzip", Codec, map[string]string{"level": "6"}, Options{})
	for _, size := range []int{1 << 10, 64 << 10} {
		in := payload(size)
		b.Run(fmt.Sprintf("plugin/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.call(context.Background(), ExportEncode, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("native/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				w, _ := gzip.NewWriterLevel(&buf, 6)
				w.Write(in)
				w.Close()
			}
		})
	}
}

// BenchmarkAuth is one decision of the token policy: from the cache, and
// computed afresh by the plugin (a new token every call).
func BenchmarkAuth(b *testing.B) {
	l := open(b, "plugins/token", Auth, map[string]string{"tokens": "good"}, Options{})
	r := &Registry{auth: newDecisions()}
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
	l := open(b, "sdk/go/examples/route", Route, nil, Options{Prefixes: []string{"/"}})
	for _, size := range []int{1 << 10, 64 << 10} {
		in, _ := json.Marshal(RouteRequest{Method: "POST", Path: "/hello", Body: payload(size)})
		b.Run(fmt.Sprintf("route/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.call(context.Background(), ExportHandle, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
