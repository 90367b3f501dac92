// Package kvcas classifies the answers of JetStream KV compare-and-swap
// writes (Create, Update), so that every package retrying them on a lost
// race recognises the same forms.
package kvcas

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Conflict reports whether a Create or Update lost to another writer. The
// server says so with error 10071 (wrong last sequence) on a stream of one
// replica and 10164 on a replicated one; nats.go wraps these as
// jetstream.ErrKeyExists (Create) or jetstream.ErrKeyRevisionMismatch
// (Update). Every form counts.
func Conflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
		return true
	}
	return false
}
