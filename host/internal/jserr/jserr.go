// Package jserr classifies the errors of JetStream and its KV buckets in one
// table, so that every package retrying, settling or refusing on them
// recognises the same forms: an API error code (as nats.go reports it, or
// as the hot path decodes it from a raw API answer), a nats.go sentinel, or
// — where neither reaches — the text the server sends.
package jserr

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream API error codes Mesh acts on (nats-server errors.json).
const (
	ClusterNotAvailable       jetstream.ErrorCode = 10008 // "JetStream system temporarily unavailable": between leaders
	InsufficientResources     jetstream.ErrorCode = 10023 // "insufficient resources": an account or server limit
	NoMessageFound            jetstream.ErrorCode = 10037 // "no message found"
	SequenceNotFound          jetstream.ErrorCode = 10043 // "sequence {seq} not found"
	InsufficientStorage       jetstream.ErrorCode = 10047 // "insufficient storage resources available"
	MessageDeleteFailed       jetstream.ErrorCode = 10057 // "{err}": "no message found" when a delete found nothing
	StreamNotFound            jetstream.ErrorCode = 10059 // "stream not found"
	WrongLastSequence         jetstream.ErrorCode = 10071 // "wrong last sequence: {seq}": a lost compare-and-swap
	StoreFailed               jetstream.ErrorCode = 10077 // "{err}": "maximum bytes exceeded" when a stream is full
	WrongLastSequenceConstant jetstream.ErrorCode = 10164 // "wrong last sequence": the same, on a replicated stream
)

// Class is what an error means to its caller.
type Class int

// The classes, in no order of importance.
const (
	Other     Class = iota // none of the below: a refusal to report
	Missing                // the message, sequence or key is not there
	NoStream               // the stream does not exist
	Conflict               // a compare-and-swap write lost to another writer
	Transient              // JetStream is between leaders: the request may succeed when repeated
	Full                   // the stream or the server holds its cap
)

// row is one form of an error: every non-zero field must match.
type row struct {
	class Class
	code  jetstream.ErrorCode // the API error code, when set
	is    error               // a sentinel matched with errors.Is, when set
	text  string              // text the error carries, when set
}

// table is the one classification, tried in order; the first match wins.
// Codes come first, so that a coded error is never judged by its text.
var table = []row{
	{class: Transient, code: ClusterNotAvailable},
	{class: Full, code: InsufficientResources},
	{class: Missing, code: NoMessageFound},
	{class: Missing, code: SequenceNotFound},
	{class: Full, code: InsufficientStorage},
	{class: Missing, code: MessageDeleteFailed, text: "no message found"},
	{class: NoStream, code: StreamNotFound},
	{class: Conflict, code: WrongLastSequence},
	{class: Full, code: StoreFailed, text: "maximum bytes exceeded"},
	{class: Conflict, code: WrongLastSequenceConstant},
	{class: Missing, is: jetstream.ErrKeyNotFound},
	// jetstream.ErrKeyExists carries code 10071, so the row above takes it.
	{class: Conflict, is: jetstream.ErrKeyRevisionMismatch},
	{class: Transient, is: nats.ErrNoResponders},
	{class: Transient, is: nats.ErrTimeout},
	{class: Transient, is: context.DeadlineExceeded},
	{class: Transient, is: jetstream.ErrNoStreamResponse},
	{class: Transient, is: nats.ErrConnectionReconnecting},
	{class: Transient, is: nats.ErrDisconnected},
	// Text-only forms: errors wrapped in types errors.As does not reach.
	{class: Missing, text: "no message found"},
	{class: Full, text: "maximum bytes exceeded"},
	{class: Full, text: "insufficient resources"},
	{class: Transient, text: "temporarily unavailable"},
	{class: Transient, text: "no responders"},
	{class: Transient, text: "deadline exceeded"},
	{class: Transient, text: "timeout"},
}

// unsent are the forms saying a request was never acted on: nobody took
// it, or JetStream refused it before doing anything.
var unsent = []row{
	{code: ClusterNotAvailable},
	{is: nats.ErrNoResponders},
	{is: nats.ErrConnectionReconnecting},
}

// Code is the JetStream API error code err carries, or 0.
func Code(err error) jetstream.ErrorCode {
	var je jetstream.JetStreamError
	if errors.As(err, &je) && je.APIError() != nil {
		return je.APIError().ErrorCode
	}
	return 0
}

// Classify tells what err means; nil is Other.
func Classify(err error) Class {
	if i := match(table, err); i >= 0 {
		return table[i].class
	}
	return Other
}

// NotFound reports whether err says a message, sequence or key is not there.
func NotFound(err error) bool { return Classify(err) == Missing }

// IsConflict reports whether a KV Create or Update lost to another writer.
func IsConflict(err error) bool { return Classify(err) == Conflict }

// IsTransient reports whether err says JetStream is between leaders (a
// server died, or the cluster is forming) rather than refusing: such a
// request may succeed when repeated.
func IsTransient(err error) bool { return Classify(err) == Transient }

// IsFull reports whether err says the stream (or the server) holds its cap.
func IsFull(err error) bool { return Classify(err) == Full }

// Unsent reports whether err says a request was never acted on, so that
// repeating it cannot apply it twice.
func Unsent(err error) bool { return match(unsent, err) >= 0 }

// match returns the index of the first row of rows that err matches, or -1.
func match(rows []row, err error) int {
	if err == nil {
		return -1
	}
	code, text := Code(err), err.Error()
	for i, r := range rows {
		if r.matches(err, code, text) {
			return i
		}
	}
	return -1
}

func (r row) matches(err error, code jetstream.ErrorCode, text string) bool {
	return (r.code == 0 || r.code == code) &&
		(r.is == nil || errors.Is(err, r.is)) &&
		(r.text == "" || strings.Contains(text, r.text))
}
