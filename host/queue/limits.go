package queue

import "github.com/ppcmesh/mesh/host/ptp"

// MaxIDBytes bounds each identifier that becomes a token of a NATS subject —
// node id, session id, topic, message id — measured escaped, as it appears
// in the subject (every byte outside [A-Za-z0-9_-] takes three), so that no
// escaping can blow a subject up. With it the longest subject (a chunk's,
// four tokens and a counter) stays far below NATS's 4 KiB control line: a
// longer one made the NATS server drop the node's connection, failing every
// later call until restart. Nodes of one network must agree on it: a partner
// refuses what this node would not store.
const MaxIDBytes = 256

// Check refuses, with E0000000400, a key or message id (empty: none) that
// cannot be stored. Every entry of the queue calls it before any NATS
// request, and a node calls it before forwarding, so that a partner is never
// sent what it would have to refuse.
func Check(k Key, msgID string) error {
	for _, f := range [...]struct{ name, v string }{
		{"node id", k.Node}, {"session id", k.Session}, {"topic", k.Topic}, {"message id", msgID},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// checkID refuses identifier v when its escaped form exceeds MaxIDBytes.
func checkID(name, v string) error {
	if len(v) <= MaxIDBytes/3 {
		return nil // short enough however it escapes; the common case costs nothing
	}
	n := escapedLen(v)
	if n <= MaxIDBytes {
		return nil
	}
	if n == len(v) {
		return ptp.Errorf(ptp.BadRequest, "%s of %d bytes exceeds the limit of %d bytes", name, len(v), MaxIDBytes)
	}
	return ptp.Errorf(ptp.BadRequest, "%s of %d bytes is %d bytes escaped and exceeds the limit of %d escaped bytes "+
		"(each byte other than A-Z a-z 0-9 _ - counts three)", name, len(v), n, MaxIDBytes)
}

// escapedLen is len(token(s)) without building it.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !plain(s[i]) {
			n += 2
		}
	}
	return n
}

// Bounds of a message's own metadata. Metadata is stored as JSON in the
// head message's NATS header (whose room, with the ids, is kept free of
// payload: see the chunk size) and rides to partners as gRPC metadata or
// HTTP headers, so keys are header names and values header text:
//   - a key is 1 to MaxMetaKeyBytes bytes of A-Z a-z 0-9 - _ . (what both
//     gRPC, after lower-casing, and HTTP accept as a header name);
//   - a value is at most MaxMetaValueBytes bytes of printable ASCII, space
//     to tilde (gRPC refuses anything else outside "-bin" keys: a message
//     with such a value could never be forwarded);
//   - all of it, JSON-encoded as stored, is at most MaxMetadataBytes, half
//     the stored metadata's room, leaving the rest for what the node adds
//     (the sender's provenance, auth policies' headers).
const (
	MaxMetaKeyBytes   = 128
	MaxMetaValueBytes = 4 << 10
	MaxMetadataBytes  = 8 << 10
)

// CheckID refuses, with E0000000400 naming the field, an identifier whose
// escaped form exceeds MaxIDBytes: the rule of Check for identifiers that
// travel beside a key (a target or source node id, a codec name).
func CheckID(name, v string) error {
	return checkID(name, v)
}

// CheckMetadata refuses, with E0000000400 naming the key and the limit it
// passes, metadata that cannot be stored and forwarded as it was given.
func CheckMetadata(md map[string]string) error {
	if len(md) == 0 {
		return nil
	}
	size := 2 // {}
	for k, v := range md {
		if err := checkMetaKey(k); err != nil {
			return err
		}
		if err := checkMetaValue(k, v); err != nil {
			return err
		}
		size += jsonLen(k) + jsonLen(v) + 2 // "k":"v", with its colon and comma
	}
	if size-1 > MaxMetadataBytes {
		return ptp.Errorf(ptp.BadRequest, "metadata of %d entries is %d bytes as stored (JSON) and exceeds the limit of %d bytes",
			len(md), size-1, MaxMetadataBytes)
	}
	return nil
}

func checkMetaKey(k string) error {
	switch {
	case k == "":
		return ptp.Errorf(ptp.BadRequest, "metadata key is empty")
	case len(k) > MaxMetaKeyBytes:
		return ptp.Errorf(ptp.BadRequest, "metadata key %.32q… of %d bytes exceeds the limit of %d bytes", k, len(k), MaxMetaKeyBytes)
	}
	for i := 0; i < len(k); i++ {
		if !plain(k[i]) && k[i] != '.' {
			return ptp.Errorf(ptp.BadRequest, "metadata key %q: byte %d (%q) is not one of A-Z a-z 0-9 - _ .", k, i, k[i])
		}
	}
	return nil
}

func checkMetaValue(k, v string) error {
	if len(v) > MaxMetaValueBytes {
		return ptp.Errorf(ptp.BadRequest, "metadata value of key %q is %d bytes and exceeds the limit of %d bytes", k, len(v), MaxMetaValueBytes)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return ptp.Errorf(ptp.BadRequest, "metadata value of key %q: byte %d (%#x) is not printable ASCII (space to ~): "+
				"encode binary or non-ASCII text, e.g. as base64", k, i, v[i])
		}
	}
	return nil
}

// jsonLen is the length of printable-ASCII s as encoding/json writes it:
// quoted, with " and \ escaped by two bytes and < > & by six (\u003c).
func jsonLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\':
			n++
		case '<', '>', '&':
			n += 5
		}
	}
	return n
}
