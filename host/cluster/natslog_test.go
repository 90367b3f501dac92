package cluster

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestNATSLogLevels: each nats-server log call lands at its slog level with
// component=nats; traces never do.
func TestNATSLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := natsLog{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("component", "nats")}
	l.Noticef("notice %d", 1)
	l.Warnf("warn %d", 2)
	l.Errorf("error %d", 3)
	l.Fatalf("fatal %d", 4)
	l.Debugf("debug %d", 5)
	l.Tracef("trace %d", 6)
	want := []struct{ level, msg string }{{"INFO", "notice 1"}, {"WARN", "warn 2"}, {"ERROR", "error 3"}, {"ERROR", "fatal 4"}, {"DEBUG", "debug 5"}}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["level"] != w.level || rec["msg"] != w.msg || rec["component"] != "nats" {
			t.Errorf("line %d: %v, want %s %q component=nats", i, rec, w.level, w.msg)
		}
	}
	if !strings.Contains(lines[3], `"fatal":true`) {
		t.Errorf("a fatal line without fatal=true: %s", lines[3])
	}
}
