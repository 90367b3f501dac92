// Command codec is a hostile raw-ABI codec for the host's tests. Its
// behaviour is config "mode" (default ok), or, per call, the mode an input
// starts with (see ../README.md). It implements the raw ABI by hand, not
// through the SDK, so it can return results the SDK never would.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostile-codec.wasm ./codec
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"unsafe"

	"github.com/ppcmesh/mesh/host/plugin/testdata/hostile"
)

// errorBit marks a packed result whose bytes are an error message.
const errorBit = 1 << 63

var (
	in   []byte // the input buffer handed out by mesh_alloc
	out  []byte // the last error message, kept referenced
	mode = "ok" // config "mode"
)

//go:wasmexport mesh_alloc
func meshAlloc(n uint32) uint32 {
	if uint32(cap(in)) < n || cap(in) == 0 {
		in = make([]byte, max(n, 64))
	}
	in = in[:n]
	return addr(in)
}

//go:wasmexport encode
func encode(ptr, n uint32) uint64 { return call(ptr, n) }

//go:wasmexport decode
func decode(ptr, n uint32) uint64 { return call(ptr, n) }

//go:wasmexport mesh_configure
func meshConfigure(ptr, n uint32) uint64 {
	var cfg map[string]string
	if err := json.Unmarshal(input(ptr, n), &cfg); n > 0 && err != nil {
		return fail("hostile: bad config: " + err.Error())
	}
	if m, ok := cfg["mode"]; ok {
		mode = m
	}
	if mode == "slowstart" {
		hostile.Sleep(cfg["delay_ms"])
	}
	return 0
}

// call misbehaves as the input or the configuration says, else echoes.
func call(ptr, n uint32) uint64 {
	src := input(ptr, n)
	switch modeOf(src) {
	case "loop":
		hostile.Loop()
	case "trap":
		hostile.Trap()
	case "oob":
		return uint64(hostile.OOB())
	case "bomb":
		hostile.Bomb()
	case "garbage":
		return garbage(src)
	case "hugelen":
		return uint64(addr(in))<<32 | 0xffff_ffff // inside memory, huge length
	case "error":
		return fail("hostile: error")
	}
	return uint64(addr(src))<<32 | uint64(len(src))
}

// garbage is the result "garbage" answers: the eight bytes after the word,
// when there are eight, as the packed result itself (big-endian: pointer,
// with the error bit on top, then length), else a pointer far outside
// memory with a huge length.
func garbage(src []byte) uint64 {
	if rest := src[len("garbage"):]; len(rest) >= 8 {
		return binary.BigEndian.Uint64(rest)
	}
	return 0x7fff_fff0<<32 | 0x7fff_ffff
}

// perCall are the modes an input may start with.
var perCall = []string{"loop", "trap", "oob", "bomb", "garbage", "hugelen", "error"}

// modeOf is the mode an input starts with, else the configured mode. Its
// first-byte test keeps an ordinary input to one comparison: the host's
// benchmarks use this codec to measure the crossing, not the codec.
func modeOf(src []byte) string {
	if len(src) < 3 || !strings.ContainsRune("ltobghe", rune(src[0])) {
		return mode
	}
	for _, m := range perCall {
		if bytes.HasPrefix(src, []byte(m)) {
			return m
		}
	}
	return mode
}

// input is the n bytes at ptr in the mesh_alloc buffer (or the start of
// the buffer when ptr is elsewhere).
func input(ptr, n uint32) []byte {
	off := ptr - addr(in)
	if ptr < addr(in) || uint64(off)+uint64(n) > uint64(cap(in)) {
		off, n = 0, min(n, uint32(cap(in)))
	}
	return in[off : off+n : off+n]
}

// fail returns msg as an error result.
func fail(msg string) uint64 {
	out = []byte(msg)
	return uint64(addr(out))<<32 | uint64(len(out)) | errorBit
}

// addr is the linear-memory address of b's first byte.
func addr(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// main is never run in a reactor.
func main() {}
