// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o gzip.wasm .

// Command gzip is Mesh's gzip compression codec (RFC 1952). Config
// "level" (1-9, default 6) sets the compression level; "max_size" (default
// 64 MiB) bounds a decoded payload, so a zip bomb fails with an error
// instead of exhausting the plugin's memory. Decoding needs up to about
// three times max_size while its buffer grows, so keep max_size well below
// the plugin's memory limit (the host's default is 256 MB).
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ppcmesh/mesh/sdk/plugin/go/codec"
)

// The configuration, with its defaults.
var (
	level   = 6
	maxSize = int64(64 << 20)
)

// The compressor state, reused between calls.
var (
	zw   *gzip.Writer
	zr   *gzip.Reader
	src  bytes.Reader
	sink appender
)

func init() {
	codec.Register(codec.Funcs{Encode: encode, Decode: decode, Configure: configure})
}

// configure reads level and max_size.
func configure(cfg map[string]string) error {
	if s, ok := cfg["level"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 9 {
			return fmt.Errorf("gzip: level must be 1-9, got %q", s)
		}
		level, zw = n, nil
	}
	if s, ok := cfg["max_size"]; ok {
		n, err := parseSize(s)
		if err != nil {
			return fmt.Errorf("gzip: max_size: %w", err)
		}
		maxSize = n
	}
	return nil
}

// encode appends the gzip compression of in to dst.
func encode(dst, in []byte) ([]byte, error) {
	sink.b = dst
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&sink, level) // level is checked by configure
	} else {
		zw.Reset(&sink)
	}
	if _, err := zw.Write(in); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	out := sink.b
	sink.b = nil
	return out, nil
}

// decode appends the decompression of in to dst, failing past maxSize.
func decode(dst, in []byte) ([]byte, error) {
	src.Reset(in)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(&src)
	} else {
		err = zr.Reset(&src)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip: input is not gzip data: %w", err)
	}
	return readLimited(dst, zr, maxSize)
}

// readLimited appends all of r to dst, failing when it holds more than
// limit bytes. It never buffers more than limit+1 bytes.
func readLimited(dst []byte, r io.Reader, limit int64) ([]byte, error) {
	start := len(dst)
	for {
		got := int64(len(dst) - start)
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, int(min(max(got, 4096), limit+1-got)))
		}
		room := dst[len(dst):cap(dst)]
		room = room[:min(int64(len(room)), limit+1-got)]
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		if int64(len(dst)-start) > limit {
			return nil, fmt.Errorf("gzip: decompressed size exceeds max_size (%d bytes)", limit)
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gzip: corrupt input: %w", err)
		}
	}
}

// units are the size suffixes parseSize accepts, in binary multiples.
var units = map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}

// parseSize parses a byte count: "1048576", "512k", "64MiB", "1g".
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(t)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	unit, ok := units[strings.TrimSpace(t[i:])]
	if err != nil || !ok || n <= 0 || n > (1<<40)/unit {
		return 0, fmt.Errorf("want a positive size such as 1048576, 512KiB, 64MiB or 1GiB, got %q", s)
	}
	return n * unit, nil
}

// appender is an io.Writer appending to b.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// main is never run in a reactor; the package must still have one.
func main() {}
