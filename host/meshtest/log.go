package meshtest

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Log is a node's log kept for the test to read, safe for the node's
// goroutines: pass Log.Logger() as host.Config.Logger.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger is a text logger writing to l.
func (l *Log) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// String is everything logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Count is how many times s occurs in the log.
func (l *Log) Count(s string) int { return strings.Count(l.String(), s) }
