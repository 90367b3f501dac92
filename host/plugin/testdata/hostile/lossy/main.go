// Command lossy is a raw-ABI codec whose decode does not invert its
// encode, for the tests of `mesh plugin test`: encode echoes its input,
// decode echoes it with byte 17 flipped (inputs of more than 17 bytes), so
// decode(encode(x)) differs from x at byte 17. Config "mode" "short" makes
// decode drop the last byte instead.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o lossy.wasm ./lossy
package main

import (
	"encoding/json"
	"unsafe"
)

// errorBit marks a packed result whose bytes are an error message.
const errorBit = 1 << 63

var (
	in   []byte // the input buffer handed out by mesh_alloc
	out  []byte // the last result, kept referenced
	mode string // config "mode"
)

//go:wasmexport mesh_alloc
func meshAlloc(n uint32) uint32 {
	if uint32(cap(in)) < n || cap(in) == 0 {
		in = make([]byte, max(n, 64))
	}
	in = in[:n]
	return addr(in)
}

//go:wasmexport mesh_configure
func meshConfigure(ptr, n uint32) uint64 {
	var cfg map[string]string
	if err := json.Unmarshal(in[:n], &cfg); err != nil {
		out = []byte("lossy: bad config: " + err.Error())
		return result(out) | errorBit
	}
	mode = cfg["mode"]
	return 0
}

//go:wasmexport encode
func encode(ptr, n uint32) uint64 { return result(in[:n]) }

//go:wasmexport decode
func decode(ptr, n uint32) uint64 {
	out = append(out[:0], in[:n]...)
	switch {
	case mode == "short" && n > 0:
		out = out[:n-1]
	case mode != "short" && n > 17:
		out[17] ^= 0x01
	}
	return result(out)
}

// result packs b's address and length.
func result(b []byte) uint64 { return uint64(addr(b))<<32 | uint64(len(b)) }

// addr is the linear-memory address of b's first byte.
func addr(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// main is never run in a reactor.
func main() {}
