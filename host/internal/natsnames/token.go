package natsnames

import (
	"strconv"
	"strings"
)

// Token escapes s into one NATS subject token that is also a valid KV key
// part: [A-Za-z0-9_-] stay, every other byte becomes =XX; the empty string
// becomes a lone "=". Every subject naming a node, session, topic or
// message id (the queues', the outbox's) escapes it with Token.
func Token(s string) string {
	if s == "" {
		return "="
	}
	if clean(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if Plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// clean reports whether every byte of s is Plain.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if !Plain(s[i]) {
			return false
		}
	}
	return true
}

// Plain reports whether Token keeps c as it is.
func Plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// Untoken reverses Token; ok is false when t is not Token's output.
func Untoken(t string) (string, bool) {
	if t == "=" {
		return "", true
	}
	if !strings.Contains(t, "=") {
		return t, true
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		if t[i] != '=' {
			b.WriteByte(t[i])
			continue
		}
		if i+2 >= len(t) {
			return "", false
		}
		v, err := strconv.ParseUint(t[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}
