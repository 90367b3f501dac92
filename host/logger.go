package host

import (
	"fmt"
	"io"
	"log/slog"
)

// logLevels are the values of Config.LogLevel, by name.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// NewLogger is the node's logger writing to w: format "text" or "json",
// from level ("debug", "info", "warn" or "error") up. It is what Validate
// builds from LogFormat and LogLevel when Config.Logger is nil.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	lv, ok := logLevels[level]
	if !ok {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// logSettings checks LogFormat and LogLevel (whether or not they build the
// logger), naming the values allowed.
func (c *Config) logSettings() error {
	_, err := NewLogger(io.Discard, c.LogFormat, c.LogLevel)
	return err
}
