package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := bytes.Repeat([]byte("mesh payload "), 1000)
	enc, err := encode(nil, in)
	if err != nil || len(enc) >= len(in) {
		t.Fatalf("encode: %d bytes, %v", len(enc), err)
	}
	for range 2 { // the second round reuses the reader
		dec, err := decode(make([]byte, 0, 10), enc)
		if err != nil || !bytes.Equal(dec, in) {
			t.Fatalf("decode: %d bytes, %v", len(dec), err)
		}
	}
}

func TestBomb(t *testing.T) {
	defer func(m int64) { maxSize = m }(maxSize)
	if err := configure(map[string]string{"max_size": "1MiB"}); err != nil {
		t.Fatal(err)
	}
	bomb, _ := encode(nil, make([]byte, 8<<20))
	if _, err := decode(nil, bomb); err == nil || !strings.Contains(err.Error(), "exceeds max_size (1048576 bytes)") {
		t.Errorf("bomb: %v", err)
	}
	exact, _ := encode(nil, make([]byte, 1<<20))
	if out, err := decode(nil, exact); err != nil || len(out) != 1<<20 {
		t.Errorf("exactly max_size: %d, %v", len(out), err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := decode(nil, []byte("plain text")); err == nil || !strings.Contains(err.Error(), "not gzip") {
		t.Errorf("plain text: %v", err)
	}
	enc, _ := encode(nil, []byte("hello hello hello"))
	enc[len(enc)-6] ^= 0xff // the CRC
	if _, err := decode(nil, enc); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("bad CRC: %v", err)
	}
}

func TestConfigure(t *testing.T) {
	defer func(l int, m int64) { level, maxSize = l, m }(level, maxSize)
	for _, bad := range []map[string]string{{"level": "0"}, {"level": "x"}, {"max_size": "-1"}, {"max_size": "5 parsecs"}} {
		if err := configure(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if err := configure(map[string]string{"level": "9", "max_size": "64MiB"}); err != nil || level != 9 || maxSize != 64<<20 {
		t.Errorf("level %d, max_size %d, %v", level, maxSize, err)
	}
}
