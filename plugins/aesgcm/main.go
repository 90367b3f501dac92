// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o aesgcm.wasm .

// Command aesgcm is Mesh's AES-256-GCM codec. Config "key" is the 32-byte
// key as 64 hex characters or standard base64; optional "aad" is
// additional data both sides must agree on. An encoded payload is a random
// 12-byte nonce, the ciphertext and a 16-byte tag.
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ppcmesh/mesh/sdk/plugin/go/codec"
)

// overhead is what encoding adds: the nonce and the tag.
const overhead = 12 + 16

// The configured cipher and additional data.
var (
	aead cipher.AEAD
	aad  []byte
)

// The errors a user may see.
var (
	errNoKey    = errors.New("aesgcm: config key is required: 32 bytes as 64 hex characters or standard base64")
	errAuth     = errors.New("aesgcm: authentication failed: wrong key or corrupted payload")
	errNotReady = errors.New("aesgcm: no key configured (install the plugin with --config key=...)")
)

func init() {
	codec.Register(codec.Funcs{Encode: encode, Decode: decode, Configure: configure})
}

// configure sets up the cipher from key and aad.
func configure(cfg map[string]string) error {
	s, ok := cfg["key"]
	if !ok || s == "" {
		return errNoKey
	}
	key, err := parseKey(s)
	if err != nil {
		return err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("aesgcm: %w", err)
	}
	if aead, err = cipher.NewGCMWithRandomNonce(block); err != nil {
		return fmt.Errorf("aesgcm: %w", err)
	}
	aad = []byte(cfg["aad"])
	return nil
}

// parseKey decodes a 32-byte key from hex or standard base64. Its errors
// never repeat the key.
func parseKey(s string) ([]byte, error) {
	if len(s) == 64 {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, fmt.Errorf("aesgcm: key must be 32 bytes as 64 hex characters or standard base64 (got %d characters)", len(s))
}

// encode appends nonce, ciphertext and tag of in to dst.
func encode(dst, in []byte) ([]byte, error) {
	if aead == nil {
		return nil, errNotReady
	}
	return aead.Seal(dst, nil, in, aad), nil
}

// decode appends the plaintext of in to dst.
func decode(dst, in []byte) ([]byte, error) {
	if aead == nil {
		return nil, errNotReady
	}
	if len(in) < overhead {
		return nil, fmt.Errorf("aesgcm: payload too short: %d bytes, at least %d (12-byte nonce and 16-byte tag)", len(in), overhead)
	}
	out, err := aead.Open(dst, nil, in, aad)
	if err != nil {
		return nil, errAuth
	}
	return out, nil
}

// main is never run in a reactor; the package must still have one.
func main() {}
