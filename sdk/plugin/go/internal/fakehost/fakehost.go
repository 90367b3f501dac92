// Package fakehost is an in-process stand-in for the Extism kernel, so the
// pdk, auth and route packages build and test natively (outside wasm). It
// keeps one call's input, output, error, configuration, variables and log.
// It is not safe for concurrent use, like a plugin instance.
package fakehost

import "encoding/binary"

// Entry is one logged message.
type Entry struct {
	Level string
	Msg   string
}

// host is the fake kernel's state. Offset 0 is the null offset.
var host struct {
	mem    []byte
	blocks map[uint64]uint64 // offset → length of live allocations
	input  []byte
	output []byte
	err    string
	config map[string]string
	vars   map[string][]byte
	logs   []Entry
}

// Reset starts a new call with input and config.
func Reset(input []byte, config map[string]string) {
	host.mem = make([]byte, 8) // keeps offset 0 unused
	host.blocks = map[uint64]uint64{}
	host.input = input
	host.output, host.err, host.logs = nil, "", nil
	host.config = config
	if host.vars == nil {
		host.vars = map[string][]byte{}
	}
}

// Output is the output the guest set.
func Output() []byte { return host.output }

// Error is the error the guest set, or "".
func Error() string { return host.err }

// Logs are the messages the guest logged since Reset.
func Logs() []Entry { return host.logs }

// InputLength is input_length.
func InputLength() uint64 { return uint64(len(host.input)) }

// InputLoadU8 is input_load_u8.
func InputLoadU8(off uint64) uint32 { return uint32(host.input[off]) }

// InputLoadU64 is input_load_u64.
func InputLoadU64(off uint64) uint64 { return binary.LittleEndian.Uint64(host.input[off:]) }

// Alloc is alloc.
func Alloc(n uint64) uint64 {
	if host.blocks == nil {
		Reset(nil, nil)
	}
	off := uint64(len(host.mem))
	host.mem = append(host.mem, make([]byte, n)...)
	host.blocks[off] = n
	return off
}

// Free is free.
func Free(off uint64) { delete(host.blocks, off) }

// Length is length: 0 for an offset that is not a live allocation.
func Length(off uint64) uint64 { return host.blocks[off] }

// LoadU8 is load_u8.
func LoadU8(off uint64) uint32 { return uint32(host.mem[off]) }

// LoadU64 is load_u64.
func LoadU64(off uint64) uint64 { return binary.LittleEndian.Uint64(host.mem[off:]) }

// StoreU8 is store_u8.
func StoreU8(off uint64, v uint32) { host.mem[off] = byte(v) }

// StoreU64 is store_u64.
func StoreU64(off, v uint64) { binary.LittleEndian.PutUint64(host.mem[off:], v) }

// OutputSet is output_set.
func OutputSet(off, n uint64) { host.output = append([]byte(nil), host.mem[off:off+n]...) }

// ErrorSet is error_set.
func ErrorSet(off uint64) { host.err = string(read(off)) }

// ConfigGet is config_get: the value's offset, or 0 when key is unset.
func ConfigGet(off uint64) uint64 {
	v, ok := host.config[string(read(off))]
	if !ok {
		return 0
	}
	return write([]byte(v))
}

// VarGet is var_get; it frees the name.
func VarGet(off uint64) uint64 {
	name := string(read(off))
	Free(off)
	v, ok := host.vars[name]
	if !ok {
		return 0
	}
	return write(v)
}

// VarSet is var_set; a zero value offset deletes. It frees both blocks.
func VarSet(name, val uint64) {
	k := string(read(name))
	Free(name)
	if val == 0 {
		delete(host.vars, k)
		return
	}
	host.vars[k] = append([]byte(nil), read(val)...)
	Free(val)
}

// Log is log_<level>; it frees the message.
func Log(level string, off uint64) {
	host.logs = append(host.logs, Entry{level, string(read(off))})
	Free(off)
}

// read returns the bytes of the block at off.
func read(off uint64) []byte { return host.mem[off : off+host.blocks[off]] }

// write copies b into a new block and returns its offset.
func write(b []byte) uint64 {
	off := Alloc(uint64(len(b)))
	copy(host.mem[off:], b)
	return off
}
