// Package audit records the node's control changes — who changed what,
// and with what outcome — in the node's log and, when configured, in a
// file of JSON lines of its own.
//
// A record is written once the change has been tried, with its outcome: a
// record that cannot be written to the file is logged at error level
// (with the record, so it still reaches the log) and the change stands.
// The change has already happened by then, so refusing the caller would
// not undo it, only hide that it happened; a node that cannot open its
// audit file at start does not start.
//
// Refused attempts (a caller the node did not admit) are recorded too, but
// bounded, since anyone who can reach the port can make them: see Refused.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Record is one control change: the JSON line of the audit file, and the
// attributes of the log's "audit" line.
type Record struct {
	Time      time.Time         `json:"time"`
	Operation string            `json:"operation"`        // e.g. "net weave", "plugin install"
	Target    map[string]string `json:"target,omitempty"` // what it changed: node_id, name and sha256, instance_id …
	Caller    string            `json:"caller"`           // who, as the node saw them: "loopback 127.0.0.1:50712", "admin-token from 10.1.2.3:4711"
	Code      ptp.Code          `json:"code"`             // the outcome: E0000000000 when it was made
	Message   string            `json:"message,omitempty"`
	// Suppressed is set on the record of operation SuppressedOp only: how
	// many refused attempts went unrecorded since the last record.
	Suppressed int64 `json:"suppressed,omitempty"`
}

// SuppressedOp is the operation of the record telling how many refused
// attempts were not recorded (Refused).
const SuppressedOp = "refused calls not recorded"

// The bound on records of refused attempts: a burst of RefusedBurst, then
// RefusedPerSecond a second.
const (
	RefusedBurst     = 64
	RefusedPerSecond = 1
)

// Log writes records; its zero value is not usable: see Open.
type Log struct {
	logger *slog.Logger
	mu     sync.Mutex
	file   *os.File // nil: the log only
	path   string

	// The token bucket of refused attempts' records, under mu.
	now        func() time.Time
	tokens     float64
	filled     time.Time // when tokens was last brought up to date
	suppressed int64     // refused attempts not recorded since the last record
}

// Open is the audit log writing to logger and, when path is not empty, to
// the file at path, created 0600 and appended to.
func Open(logger *slog.Logger, path string) (*Log, error) {
	l := &Log{logger: logger, path: path, now: time.Now, tokens: RefusedBurst}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	l.file = f
	return l, nil
}

// Record writes rec (its Time set when zero): always as an info line
// "audit" with audit=true, and as a JSON line in the file when there is
// one. Records of changes the node let through are never suppressed; a
// count of refused attempts suppressed since the last record (Refused) is
// written first.
func (l *Log) Record(ctx context.Context, rec Record) {
	l.flushSuppressed(ctx)
	l.write(ctx, rec)
}

// Refused writes rec, the record of an attempt the node refused before
// trying it (a caller it did not admit), within a token bucket: a burst of
// RefusedBurst, then RefusedPerSecond. Past it the attempt is only
// counted, and the count is written as one record of SuppressedOp before
// the next record written (or at Close).
func (l *Log) Refused(ctx context.Context, rec Record) {
	l.mu.Lock()
	now := l.now()
	if !l.filled.IsZero() {
		l.tokens = min(RefusedBurst, l.tokens+now.Sub(l.filled).Seconds()*RefusedPerSecond)
	}
	l.filled = now
	if l.tokens < 1 {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.tokens--
	l.mu.Unlock()
	l.Record(ctx, rec)
}

// flushSuppressed writes the count of refused attempts not recorded, if any.
func (l *Log) flushSuppressed(ctx context.Context) {
	l.mu.Lock()
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		l.write(ctx, Record{Operation: SuppressedOp, Suppressed: n,
			Message: fmt.Sprintf("%d refused control calls were not recorded (refusals are recorded up to %d at once, then %d a second)", n, RefusedBurst, RefusedPerSecond)})
	}
}

// write writes rec to the log and the file.
func (l *Log) write(ctx context.Context, rec Record) {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	attrs := []any{"audit", true, "operation", rec.Operation, "target", rec.Target, "caller", rec.Caller, "code", string(rec.Code)}
	if rec.Message != "" {
		attrs = append(attrs, "message", rec.Message)
	}
	if rec.Suppressed > 0 {
		attrs = append(attrs, "suppressed", rec.Suppressed)
	}
	l.logger.InfoContext(ctx, "audit", attrs...)
	if err := l.append(rec); err != nil {
		l.logger.ErrorContext(ctx, "audit record not written to the audit file", append(attrs, "err", err.Error(), "file", l.path)...)
	}
}

// append writes rec to the file, one line per record.
func (l *Log) append(rec Record) error {
	if l.file == nil {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.file.Write(append(b, '\n'))
	return err
}

// Close writes the count of refused attempts not recorded, if any, and
// closes the file.
func (l *Log) Close() error {
	l.flushSuppressed(context.Background())
	if l.file == nil {
		return nil
	}
	return l.file.Close()
}
