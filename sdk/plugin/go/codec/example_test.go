package codec_test

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ppcmesh/mesh/sdk/plugin/go/codec"
)

// shift is a codec that adds a configurable amount to every byte (config
// "shift", default 1); decoding subtracts it. Not encryption: an example.
type shift struct{ by byte }

func (s *shift) encode(dst, src []byte) ([]byte, error) {
	for _, b := range src {
		dst = append(dst, b+s.by)
	}
	return dst, nil
}

func (s *shift) decode(dst, src []byte) ([]byte, error) {
	for _, b := range src {
		dst = append(dst, b-s.by)
	}
	return dst, nil
}

func (s *shift) configure(cfg map[string]string) error {
	v, ok := cfg["shift"]
	if !ok {
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 8)
	if err != nil {
		return errors.New("shift: want a number 0-255")
	}
	s.by = byte(n)
	return nil
}

// A codec registers its functions in an init function of its main package;
// built for wasip1, the SDK exports them to the host. The same functions
// are plain Go, so a codec's own tests call them directly, as the host
// would: configure once, then encode and decode, appending to a reused dst.
func ExampleRegister() {
	s := &shift{by: 1}
	f := codec.Funcs{Encode: s.encode, Decode: s.decode, Configure: s.configure}
	codec.Register(f) // in a real codec: inside func init()
	defer codec.Register(codec.Funcs{})

	if err := f.Configure(map[string]string{"shift": "2"}); err != nil {
		fmt.Println("refused:", err)
	}
	enc, _ := f.Encode(nil, []byte("HAL"))
	dec, _ := f.Decode(make([]byte, 0, 16), enc)
	fmt.Printf("%s %s\n", enc, dec)
	fmt.Println(f.Configure(map[string]string{"shift": "lots"}))
	// Output:
	// JCN HAL
	// shift: want a number 0-255
}
