// Command codec is an example Mesh codec: it XORs every byte with a key
// byte, so encoding twice gives the input back. Not encryption — an
// example of the codec kit.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o xor.wasm .
package main

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/ppcmesh/mesh/sdk/plugin/go/codec"
)

// key is the byte every payload byte is XORed with (config "key", 0-255).
var key byte = 0x5a

func init() {
	codec.Register(codec.Funcs{Encode: xor, Decode: xor, Configure: configure})
}

// configure reads the optional key.
func configure(cfg map[string]string) error {
	s, ok := cfg["key"]
	if !ok {
		return nil
	}
	k, err := strconv.ParseUint(s, 0, 8)
	if err != nil {
		return fmt.Errorf("xor: key must be a byte (0-255), got %q", s)
	}
	key = byte(k)
	return nil
}

// xor appends src XOR key to dst; with key 0 it returns src itself, the
// identity without a copy (what the benchmarks call an identity call). It copies src in one go and XORs 32
// bytes per iteration, without calls: the host bounds every call, and a
// bounded guest pays a check (tens of nanoseconds) on each loop iteration
// and each Go function call that is not inlined.
func xor(dst, src []byte) ([]byte, error) {
	if key == 0 {
		return src, nil
	}
	n := len(dst)
	dst = append(dst, src...)
	out := dst[n:]
	k := uint64(key) * 0x0101010101010101
	le := binary.LittleEndian
	i := 0
	for ; i+32 <= len(out); i += 32 {
		w := out[i : i+32]
		le.PutUint64(w[0:], le.Uint64(w[0:])^k)
		le.PutUint64(w[8:], le.Uint64(w[8:])^k)
		le.PutUint64(w[16:], le.Uint64(w[16:])^k)
		le.PutUint64(w[24:], le.Uint64(w[24:])^k)
	}
	for ; i < len(out); i++ {
		out[i] ^= key
	}
	return dst, nil
}

// main is never run in a reactor; the package must still have one.
func main() {}
