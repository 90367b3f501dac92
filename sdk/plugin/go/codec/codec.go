// Package codec is the guest side of Mesh's raw codec ABI: it exports
// mesh_alloc, encode, decode and mesh_configure from a Go wasip1 reactor
// and calls the functions an author registers.
//
// A codec is a main package that registers its functions in an init
// function (a reactor's main is never run) and is built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o x.wasm .
//
// For example:
//
//	package main
//
//	import "github.com/ppcmesh/mesh/sdk/plugin/go/codec"
//
//	func init() {
//		codec.Register(codec.Funcs{Encode: reverse, Decode: reverse})
//	}
//
//	func reverse(dst, src []byte) ([]byte, error) {
//		for i := len(src) - 1; i >= 0; i-- {
//			dst = append(dst, src[i])
//		}
//		return dst, nil
//	}
//
//	func main() {}
//
// The SDK owns the instance's memory: one input buffer is handed to the
// host by mesh_alloc and reused, and a result stays referenced until the
// next call, as the ABI requires.
package codec

import (
	"encoding/json"
	"fmt"
)

// Func appends the encoding (or decoding) of src to dst and returns the
// extended slice, like the standard library's Append functions. dst has
// length 0 and is a buffer the SDK reuses between calls, so appending to it
// costs no allocation once it has grown; a Func may also ignore dst and
// return any slice, src included. src is valid only during the call and must
// not be kept.
type Func func(dst, src []byte) ([]byte, error)

// Funcs are a codec's functions.
type Funcs struct {
	Encode Func // required
	Decode Func // required
	// Configure receives the plugin's configuration once per instance,
	// before the first Encode or Decode; an error refuses the
	// configuration and is shown to the user. Optional.
	Configure func(config map[string]string) error
}

// registered holds the functions given to Register.
var registered Funcs

// Register makes f the instance's codec. Call it from an init function:
// the host calls the exports after initialization, and never runs main.
func Register(f Funcs) { registered = f }

// keepMax is the capacity above which a buffer is released when a much
// smaller one would do, so one huge payload does not pin its memory.
const keepMax = 1 << 20

// fit returns buf resliced to n bytes, or a new buffer when buf is too small
// or much too large.
func fit(buf []byte, n int) []byte {
	if n <= cap(buf) && (cap(buf) <= keepMax || n >= cap(buf)/4) {
		return buf[:n]
	}
	return make([]byte, n, max(n+n/4, 64))
}

// state is an instance's memory: the input buffer, the scratch buffer
// handed to Funcs as dst, and the last result, kept referenced until the
// next call.
type state struct {
	in      []byte
	scratch []byte
	want    int    // the length of the last output: the next scratch's capacity
	out     []byte // the last result (output or error message)
}

// alloc returns the input buffer, of n bytes.
func (s *state) alloc(n int) []byte {
	s.in = fit(s.in, n)
	return s.in
}

// call runs f over src and returns its output, or an error message and
// true. The result is kept in s.out.
func (s *state) call(f Func, name string, src []byte) (res []byte, isErr bool) {
	if f == nil {
		return s.fail(fmt.Errorf("codec: no %s function registered (call codec.Register in an init function)", name))
	}
	defer func() {
		if r := recover(); r != nil {
			res, isErr = s.fail(fmt.Errorf("codec: %s panicked: %v", name, r))
		}
	}()
	s.scratch = fit(s.scratch, s.want)[:0]
	out, err := f(s.scratch, src)
	if err != nil {
		return s.fail(err)
	}
	s.want = len(out)
	s.out = out
	return out, false
}

// configure parses the JSON configuration (empty means none) and hands it
// to the registered Configure, returning an error message and true when it
// is refused.
func (s *state) configure(raw []byte) ([]byte, bool) {
	cfg := map[string]string{}
	if err := json.Unmarshal(raw, &cfg); len(raw) > 0 && err != nil {
		return s.fail(fmt.Errorf("codec: configuration is not a JSON object of strings: %w", err))
	}
	if registered.Configure == nil {
		return nil, false
	}
	if err := registered.Configure(cfg); err != nil {
		return s.fail(err)
	}
	return nil, false
}

// fail keeps err's message as the result and returns it with true.
func (s *state) fail(err error) ([]byte, bool) {
	msg := err.Error()
	if msg == "" {
		msg = "codec: error without a message"
	}
	s.out = append(s.out[:0:0], msg...)
	return s.out, true
}
