package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

const hexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func TestRoundTrip(t *testing.T) {
	if err := configure(map[string]string{"key": hexKey, "aad": "mesh"}); err != nil {
		t.Fatal(err)
	}
	in := []byte("secret payload")
	a, _ := encode(nil, in)
	b, _ := encode(nil, in)
	if len(a) != len(in)+overhead || bytes.Equal(a, b) {
		t.Fatalf("encodings %x, %x", a, b)
	}
	out, err := decode(nil, a)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("decode: %q, %v", out, err)
	}
	a[20] ^= 1
	if _, err := decode(nil, a); err != errAuth {
		t.Errorf("tampered: %v", err)
	}
	if _, err := decode(nil, a[:27]); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short: %v", err)
	}
}

func TestWrongKeyOrAAD(t *testing.T) {
	configure(map[string]string{"key": hexKey})
	enc, _ := encode(nil, []byte("x"))
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	configure(map[string]string{"key": other})
	if _, err := decode(nil, enc); err != errAuth {
		t.Errorf("wrong key: %v", err)
	}
	configure(map[string]string{"key": hexKey, "aad": "other"})
	if _, err := decode(nil, enc); err != errAuth {
		t.Errorf("wrong aad: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	if err := configure(map[string]string{}); err != errNoKey {
		t.Errorf("missing: %v", err)
	}
	for _, k := range []string{"abc", hexKey[:62], strings.Repeat("zz", 32), base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		err := configure(map[string]string{"key": k})
		if err == nil || !strings.Contains(err.Error(), "32 bytes") || strings.Contains(err.Error(), k) {
			t.Errorf("key %q: %v", k, err)
		}
	}
}
