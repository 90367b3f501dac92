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
