// Package pdk is a minimal Extism guest ABI for Go wasip1 plugins: the
// input, output, error, configuration, variables and logging of the
// extism:host/env imports. All offsets it passes are Extism offsets in the
// kernel's memory, not addresses in the guest's own memory.
//
// An Extism export is a function without arguments returning 0 for success:
//
//	//go:wasmexport greet
//	func greet() int32 {
//		pdk.Output(append([]byte("hello "), pdk.Input()...))
//		return 0
//	}
//
// HandleJSON does the decoding, encoding and error reporting for exports
// whose input and output are JSON documents; the auth and route packages
// are built on it. Outside wasm the imports are served by an in-process
// fake host, so plugin code builds natively and the SDK tests itself there.
package pdk

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Level is a log level.
type Level int

// The log levels.
const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

// Input returns the call's input in a new slice.
func Input() []byte {
	n := inputLength()
	b := make([]byte, n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], inputLoadU64(i))
	}
	for ; i < n; i++ {
		b[i] = byte(inputLoadU8(i))
	}
	return b
}

// Output sets the call's output to a copy of b.
func Output(b []byte) {
	off := write(b)
	outputSet(off, uint64(len(b)))
}

// SetError sets the call's error; the export should then return non-zero.
func SetError(err error) {
	errorSet(write([]byte(err.Error())))
}

// Config returns the plugin's configuration value for key. Extism hands an
// empty value over as no value, so an empty value reads as missing.
func Config(key string) (string, bool) {
	k := write([]byte(key))
	off := configGet(k)
	free(k)
	if off == 0 {
		return "", false
	}
	v := read(off)
	free(off)
	return string(v), true
}

// Var returns the value of the plugin's variable key, which lasts across
// calls to the same instance.
func Var(key string) ([]byte, bool) {
	off := varGet(write([]byte(key)))
	if off == 0 {
		return nil, false
	}
	v := read(off)
	free(off)
	return v, true
}

// SetVar sets the variable key to v; a nil v deletes it.
func SetVar(key string, v []byte) {
	val := uint64(0)
	if v != nil {
		val = write(v)
	}
	varSet(write([]byte(key)), val)
}

// Log logs msg at level through the host.
func Log(level Level, msg string) {
	off := write([]byte(msg))
	switch level {
	case LevelDebug:
		logDebug(off)
	case LevelInfo:
		logInfo(off)
	case LevelWarn:
		logWarn(off)
	default:
		logError(off)
	}
}

// HandleJSON is the body of an export whose input and output are JSON:
// it decodes the input into In, calls h, and sets h's result as the
// output. It returns the export's result: 0, or 1 after setting the error
// when decoding fails, h fails or h panics.
func HandleJSON[In, Out any](h func(In) (Out, error)) (rc int32) {
	defer func() {
		if r := recover(); r != nil {
			SetError(fmt.Errorf("plugin panicked: %v", r))
			rc = 1
		}
	}()
	var in In
	if err := json.Unmarshal(Input(), &in); err != nil {
		SetError(fmt.Errorf("bad input: %w", err))
		return 1
	}
	out, err := h(in)
	if err == nil {
		var b []byte
		if b, err = json.Marshal(out); err == nil {
			Output(b)
			return 0
		}
	}
	SetError(err)
	return 1
}

// write copies b into a new kernel block and returns its offset.
func write(b []byte) uint64 {
	n := uint64(len(b))
	off := alloc(n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		storeU64(off+i, binary.LittleEndian.Uint64(b[i:]))
	}
	for ; i < n; i++ {
		storeU8(off+i, uint32(b[i]))
	}
	return off
}

// read copies the kernel block at off into a new slice.
func read(off uint64) []byte {
	n := length(off)
	b := make([]byte, n)
	i := uint64(0)
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], loadU64(off+i))
	}
	for ; i < n; i++ {
		b[i] = byte(loadU8(off + i))
	}
	return b
}
