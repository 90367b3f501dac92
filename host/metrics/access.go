package metrics

import (
	"context"
	"log/slog"
	"time"
)

// access writes the access log: one line per answered call, through the
// node's logger, with the message "access".
type access struct {
	log *slog.Logger
}

// The access log's fields, the one list of them (docs/metrics.md tells
// what each holds).
const (
	fieldOp        = "op"
	fieldTransport = "transport"
	fieldSession   = "session"
	fieldTopic     = "topic"
	fieldCode      = "code"
	fieldBytesIn   = "bytes_in"
	fieldBytesOut  = "bytes_out"
	fieldDuration  = "duration_ms"
	fieldCaller    = "caller"
	fieldCallerID  = "caller_id"
	fieldRemote    = "remote"
	fieldPath      = "path"
)

// AccessMessage is the message of every access-log line.
const AccessMessage = "access"

func (a *access) write(c *Call, took time.Duration) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, AccessMessage,
		slog.String(fieldOp, c.Op.String()),
		slog.String(fieldTransport, c.Transport.String()),
		slog.String(fieldSession, c.Session),
		slog.String(fieldTopic, c.Topic),
		slog.String(fieldCode, string(c.Code)),
		slog.Int(fieldBytesIn, c.BytesIn),
		slog.Int(fieldBytesOut, c.BytesOut),
		slog.Float64(fieldDuration, float64(took.Microseconds())/1000),
		slog.String(fieldCaller, c.Caller),
		slog.String(fieldCallerID, c.CallerID),
		slog.String(fieldRemote, c.Remote),
		slog.String(fieldPath, c.Path))
}
