package api

import (
	"log/slog"
	"sync"
	"time"
)

// providerFATE is the x-ptp-tech-provider-code FATE's federation client sends.
const providerFATE = "FATE"

// How often a clamped pop timeout is told per caller, and how many callers
// are remembered at once.
const (
	clampLogEvery = time.Hour
	clampLogKeys  = 1024
)

// onceLog logs a message at most once per key per interval, remembering at
// most max keys; past that it stays silent until remembered keys lapse, so
// no caller can make it grow or flood the log.
type onceLog struct {
	logger *slog.Logger
	every  time.Duration
	max    int
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]time.Time
}

func newOnceLog(l *slog.Logger, every time.Duration, max int) *onceLog {
	return &onceLog{logger: l, every: every, max: max, now: time.Now, seen: make(map[string]time.Time)}
}

// log tells msg with args unless key was told within the interval.
func (o *onceLog) log(key, msg string, args ...any) {
	if o.logger == nil || !o.due(key) {
		return
	}
	o.logger.Warn(msg, args...)
}

// due records key and reports whether it is to be logged now.
func (o *onceLog) due(key string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	if t, ok := o.seen[key]; ok && now.Sub(t) < o.every {
		return false
	}
	if len(o.seen) >= o.max {
		o.forget(now)
	}
	if len(o.seen) >= o.max {
		return false
	}
	o.seen[key] = now
	return true
}

// forget drops the keys whose interval has passed.
func (o *onceLog) forget(now time.Time) {
	for k, t := range o.seen {
		if now.Sub(t) >= o.every {
			delete(o.seen, k)
		}
	}
}
