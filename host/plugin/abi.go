package plugin

// The raw codec ABI (documented in wit/ABI.md). A codec module exports its
// linear memory, an allocator and the two codec functions:
//
//	mesh_alloc(len: i32) -> i32               buffer for the host to write an input into
//	encode(ptr: i32, len: i32) -> i64         packed result (see Pack)
//	decode(ptr: i32, len: i32) -> i64         packed result
//	mesh_configure(ptr: i32, len: i32) -> i64 optional: the plugin's configuration as a
//	                                          JSON object of strings, once per instance;
//	                                          returns 0 or an error result
//
// A result packs a pointer and a length into one i64: ptr<<32 | len. When bit
// 63 is set the bytes are a UTF-8 error message instead of output. Output
// stays valid until the next call into the same instance; the guest owns its
// memory. Reactors exporting _initialize have it called once at instantiation.
const (
	ExportMemory     = "memory"
	ExportAlloc      = "mesh_alloc"
	ExportEncode     = "encode"
	ExportDecode     = "decode"
	ExportConfigure  = "mesh_configure"
	ExportInitialize = "_initialize"
)

// The Extism kinds' exports: each takes a JSON document as Extism input and
// sets a JSON document as output (see auth.go and route.go for the shapes).
const (
	ExportAuthorize = "authorize"
	ExportHandle    = "handle"
)

// errorBit marks a packed result whose bytes are an error message.
const errorBit = 1 << 63

// Pack packs a pointer and length into a raw ABI result.
func Pack(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// PackError packs a pointer and length of an error message.
func PackError(ptr, n uint32) uint64 { return Pack(ptr, n) | errorBit }

// Unpack splits a raw ABI result into pointer, length and whether the bytes
// are an error message.
func Unpack(v uint64) (ptr, n uint32, isErr bool) {
	return uint32(v>>32) &^ (1 << 31), uint32(v), v&errorBit != 0
}
