package network

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// The short authentication string of the weave (see weave.go): the
// initiator commits to its nonce before it sees the responder's, so neither
// a stranger nor a party in the middle can steer the code; each attempt
// costs it one online handshake and succeeds with chance 2^-codeBits.
const (
	commitDomain = "mesh weave commit v1"
	codeDomain   = "mesh weave code v1"
	nonceSize    = 32
	codeBits     = 80 // 16 base32 characters
)

// Commitment is the initiator's commitment to its root and nonce, sent in
// the hello before the responder's nonce is known: SHA-256 over the domain
// and the length-prefixed node id, root DER and nonce.
func Commitment(nodeID string, rootDER, nonce []byte) []byte {
	sum := sha256.Sum256(framed(commitDomain, []byte(nodeID), rootDER, nonce))
	return sum[:]
}

// AuthCode is the code both operators compare: the first 80 bits of
// SHA-256 over the domain and the length-prefixed ids, roots and nonces,
// initiator first, as 16 base32 characters in four groups (ABCD-EFGH-IJKL-MNOP).
func AuthCode(initiator, responder string, rootI, rootR, nonceI, nonceR []byte) string {
	sum := sha256.Sum256(framed(codeDomain, []byte(initiator), []byte(responder), rootI, rootR, nonceI, nonceR))
	s := base32.StdEncoding.EncodeToString(sum[:codeBits/8])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// framed is domain, a zero byte, then each part behind its 4-byte
// big-endian length, so that no two inputs frame alike.
func framed(domain string, parts ...[]byte) []byte {
	out := append([]byte(domain), 0)
	for _, p := range parts {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

// sameCode compares a code an operator typed with the handshake's, in
// constant time; case, spaces and dashes do not matter.
func sameCode(typed, code string) bool {
	a, b := normCode(typed), normCode(code)
	return len(b) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func normCode(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(s))
}

// newNonce is a fresh random nonce.
func newNonce() []byte {
	b := make([]byte, nonceSize)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return b
}

// decodeNonce reads a hex nonce or commitment of nonceSize bytes.
func decodeNonce(what, s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != nonceSize {
		return nil, fmt.Errorf("%s: want %d hex characters", what, 2*nonceSize)
	}
	return b, nil
}
