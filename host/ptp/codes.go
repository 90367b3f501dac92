package ptp

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
)

// Code is a PTP status code, carried as a string in every reply.
type Code string

// The PTP status codes. Each is "E0000000" followed by three digits.
const (
	OK                 Code = "E0000000000"
	BadRequest         Code = "E0000000400"
	Unauthorized       Code = "E0000000403"
	NotFound           Code = "E0000000404"
	TooLarge           Code = "E0000000413"
	SystemError        Code = "E0000000500"
	RoutingLoop        Code = "E0000000503"
	Incompatible       Code = "E0000000600"
	Timeout            Code = "E0000000601"
	NoProvider         Code = "E0000000602"
	CertificateError   Code = "E0000000603"
	TokenExpired       Code = "E0000000604"
	NetworkExpired     Code = "E0000000605"
	PeerDisabled       Code = "E0000000606"
	NetworkUnreachable Code = "E0000000607"
	SessionReleased    Code = "E0000000608"
	NotPermitted       Code = "E0000000614"
	BadSignature       Code = "E0000000615"
	CodecError         Code = "E0000000616"
	NoSuchService      Code = "E0000000617"
	NotWoven           Code = "E0000000618"
	BadAddress         Code = "E0000000619"
	BufferFull         Code = "E0000000700"
)

// codeRow is one row of the code table.
type codeRow struct {
	message string
	grpc    codes.Code
	http    int
}

// table is the one place that maps each PTP code to its default message,
// gRPC status and HTTP status.
var table = map[Code]codeRow{
	OK:                 {"ok", codes.OK, http.StatusOK},
	BadRequest:         {"bad request", codes.InvalidArgument, http.StatusBadRequest},
	Unauthorized:       {"unauthorised", codes.PermissionDenied, http.StatusForbidden},
	NotFound:           {"not found", codes.NotFound, http.StatusNotFound},
	TooLarge:           {"body too large", codes.ResourceExhausted, http.StatusRequestEntityTooLarge},
	SystemError:        {"system error", codes.Internal, http.StatusInternalServerError},
	RoutingLoop:        {"routing loop", codes.Aborted, http.StatusServiceUnavailable},
	Incompatible:       {"incompatible", codes.FailedPrecondition, http.StatusBadRequest},
	Timeout:            {"timeout", codes.DeadlineExceeded, http.StatusGatewayTimeout},
	NoProvider:         {"no provider", codes.Unimplemented, http.StatusNotImplemented},
	CertificateError:   {"certificate error", codes.Unauthenticated, http.StatusUnauthorized},
	TokenExpired:       {"token expired", codes.Unauthenticated, http.StatusUnauthorized},
	NetworkExpired:     {"network expired", codes.FailedPrecondition, http.StatusForbidden},
	PeerDisabled:       {"peer disabled", codes.FailedPrecondition, http.StatusForbidden},
	NetworkUnreachable: {"network unreachable", codes.Unavailable, http.StatusBadGateway},
	SessionReleased:    {"session released", codes.FailedPrecondition, http.StatusGone},
	NotPermitted:       {"not permitted", codes.PermissionDenied, http.StatusForbidden},
	BadSignature:       {"bad signature", codes.Unauthenticated, http.StatusUnauthorized},
	CodecError:         {"codec error", codes.DataLoss, http.StatusUnprocessableEntity},
	NoSuchService:      {"no such service", codes.Unimplemented, http.StatusNotFound},
	NotWoven:           {"not woven", codes.PermissionDenied, http.StatusForbidden},
	BadAddress:         {"bad address", codes.InvalidArgument, http.StatusBadRequest},
	BufferFull:         {"buffer full", codes.ResourceExhausted, http.StatusTooManyRequests},
}

// Codes lists every known code, for documentation and tests.
func Codes() []Code {
	out := make([]Code, 0, len(table))
	for c := range table {
		out = append(out, c)
	}
	return out
}

// Known reports whether c is a code of the table. A code a peer sends that
// is not in it must not reach a caller as it came (it would map to 500).
func (c Code) Known() bool {
	_, ok := table[c]
	return ok
}

func (c Code) row() codeRow {
	if s, ok := table[c]; ok {
		return s
	}
	return table[SystemError]
}

// Message is the code's default human-readable message.
func (c Code) Message() string { return c.row().message }

// GRPC is the gRPC status that corresponds to the code.
func (c Code) GRPC() codes.Code { return c.row().grpc }

// HTTP is the HTTP status that corresponds to the code.
func (c Code) HTTP() int { return c.row().http }

// Error is a failure with a PTP code and a message meant for the caller.
type Error struct {
	Code Code
	Msg  string
	Err  error // optional cause, not shown to callers
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return string(e.Code) + ": " + e.Code.Message()
	}
	return string(e.Code) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Describe turns any error into the code and message to send to a caller.
// Errors that carry no PTP code become SystemError; nil is OK.
func Describe(err error) (Code, string) {
	if err == nil {
		return OK, OK.Message()
	}
	var pe *Error
	if errors.As(err, &pe) {
		if pe.Msg == "" {
			return pe.Code, pe.Code.Message()
		}
		return pe.Code, pe.Msg
	}
	return SystemError, err.Error()
}

// FromHTTP is the code for an HTTP status: the lowest code the table maps
// to it, else BadRequest for 4xx and SystemError for the rest.
func FromHTTP(status int) Code {
	best := Code("")
	for c, row := range table {
		if row.http == status && c != OK && (best == "" || c < best) {
			best = c
		}
	}
	switch {
	case best != "":
		return best
	case status >= 400 && status < 500:
		return BadRequest
	}
	return SystemError
}
