package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// TestGuestLogsReachTheNodeLog: a line an Extism guest logs through its
// PDK reaches the node's logger with its level and the plugin's name (the
// Extism SDK drops every guest line unless its global level is set).
func TestGuestLogsReachTheNodeLog(t *testing.T) {
	var buf bytes.Buffer
	e, err := NewEngine("", slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	wasm, err := os.ReadFile(plugintest.Build(t, "sdk/plugin/go/examples/auth"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.load(t.Context(), Record{Name: "allowlist", Kind: Auth, Config: map[string]string{"nodes": "node-b"}}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer l.pool.retire(context.Background())
	in, _ := json.Marshal(AuthRequest{Method: "push", Session: "s", SourceNode: "node-z", Caller: "partner"})
	if _, err := l.call(t.Context(), ExportAuthorize, in); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); !strings.Contains(got, "level=INFO") || !strings.Contains(got, `msg="refused partner node-z"`) || !strings.Contains(got, "plugin=allowlist") {
		t.Fatalf("the node's log has no INFO line from the plugin:\n%s", got)
	}
}
