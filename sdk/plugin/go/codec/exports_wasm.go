//go:build wasm

package codec

import (
	"errors"
	"unsafe"
)

// st is the instance's memory.
var st state

// errorBit marks a packed result whose bytes are an error message.
const errorBit = 1 << 63

//go:wasmexport mesh_alloc
func meshAlloc(n uint32) uint32 {
	return addr(st.alloc(int(n)))
}

//go:wasmexport encode
func encode(ptr, n uint32) uint64 {
	src, err := input(ptr, n)
	if err != nil {
		return pack(st.fail(err))
	}
	return pack(st.call(registered.Encode, "encode", src))
}

//go:wasmexport decode
func decode(ptr, n uint32) uint64 {
	src, err := input(ptr, n)
	if err != nil {
		return pack(st.fail(err))
	}
	return pack(st.call(registered.Decode, "decode", src))
}

//go:wasmexport mesh_configure
func meshConfigure(ptr, n uint32) uint64 {
	raw, err := input(ptr, n)
	if err != nil {
		return pack(st.fail(err))
	}
	msg, isErr := st.configure(raw)
	if !isErr {
		return 0
	}
	return pack(msg, true)
}

// errInput is returned for an input outside the mesh_alloc buffer.
var errInput = errors.New("codec: input is not inside the buffer returned by mesh_alloc")

// input returns the n bytes at ptr, which must lie in the buffer mesh_alloc
// handed out.
func input(ptr, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	base := addr(st.in)
	full := st.in[:cap(st.in)]
	if ptr < base || uint64(ptr-base)+uint64(n) > uint64(len(full)) {
		return nil, errInput
	}
	off := ptr - base
	return full[off : off+n], nil
}

// addr is the linear-memory address of b's first byte.
func addr(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// pack packs a result for the host: ptr<<32 | len, bit 63 for errors.
func pack(b []byte, isErr bool) uint64 {
	v := uint64(addr(b))<<32 | uint64(uint32(len(b)))
	if isErr {
		v |= errorBit
	}
	return v
}
