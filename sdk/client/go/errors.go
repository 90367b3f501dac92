package meshclient

import (
	"errors"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Error is a failure the node reported with a PTP code (or one the client
// found before sending, with the code the node would have given). Match it
// with errors.As, or with errors.Is against the Err* values, which match
// any *Error of their code.
type Error struct {
	Code    ptp.Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code) + ": " + e.Code.Message()
	}
	return string(e.Code) + ": " + e.Message
}

// Is reports whether target is an *Error of the same code and no message
// (an Err* value) or of the same code and message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// Values to match failures with errors.Is, by code.
var (
	ErrBadRequest         = &Error{Code: ptp.BadRequest}
	ErrUnauthorized       = &Error{Code: ptp.Unauthorized}
	ErrTooLarge           = &Error{Code: ptp.TooLarge}
	ErrTimeout            = &Error{Code: ptp.Timeout}
	ErrNoProvider         = &Error{Code: ptp.NoProvider}
	ErrNetworkUnreachable = &Error{Code: ptp.NetworkUnreachable}
	ErrSessionReleased    = &Error{Code: ptp.SessionReleased}
	ErrNotPermitted       = &Error{Code: ptp.NotPermitted}
	ErrNotWoven           = &Error{Code: ptp.NotWoven}
	ErrBufferFull         = &Error{Code: ptp.BufferFull}
)

// ErrClosed is returned by calls on a Transport after Close.
var ErrClosed = errors.New("meshclient: transport closed")

// CodeOf is the PTP code of err: ptp.OK for nil, the code of an *Error in
// its chain, else "" (the node was not reached, or did not answer in PTP).
func CodeOf(err error) ptp.Code {
	if err == nil {
		return ptp.OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// check turns a reply's code into nil or an *Error.
func check(code ptp.Code, msg string) error {
	if code == ptp.OK {
		return nil
	}
	return &Error{Code: code, Message: msg}
}
