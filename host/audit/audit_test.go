package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// TestRecordGoesToLogAndFile: a record is an info line "audit" with
// audit=true and a JSON line of the file, appended to what it held.
func TestRecordGoesToLogAndFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte("{\"earlier\":true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	l, err := Open(slog.New(slog.NewJSONHandler(&buf, nil)), path)
	if err != nil {
		t.Fatal(err)
	}
	l.Record(t.Context(), Record{Operation: "net weave", Target: map[string]string{"node_id": "b"}, Caller: "loopback 127.0.0.1:1", Code: ptp.OK})
	_ = l.Close()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var rec Record
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &rec) != nil || rec.Operation != "net weave" || rec.Target["node_id"] != "b" || rec.Time.IsZero() {
		t.Fatalf("audit file:\n%s", b)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "audit" || line["audit"] != true || line["level"] != "INFO" ||
		line["operation"] != "net weave" || line["code"] != string(ptp.OK) {
		t.Fatalf("log line %s (%v)", buf.String(), err)
	}
}

// TestUnwritableFileIsLoggedLoudly: a record the file cannot take is
// logged at error level with the record and the failure.
func TestUnwritableFileIsLoggedLoudly(t *testing.T) {
	var buf bytes.Buffer
	l, err := Open(slog.New(slog.NewJSONHandler(&buf, nil)), filepath.Join(t.TempDir(), "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_ = l.file.Close() // the file goes away under the node
	l.Record(t.Context(), Record{Operation: "plugin remove", Caller: "loopback 127.0.0.1:1", Code: ptp.OK})
	out := buf.String()
	if !strings.Contains(out, `"level":"ERROR","msg":"audit record not written to the audit file"`) || !strings.Contains(out, `"operation":"plugin remove"`) ||
		!strings.Contains(out, "file already closed") {
		t.Fatalf("log:\n%s", out)
	}
}

// TestRefusedAttemptsAreBounded: of 1,000 refused attempts at one instant,
// RefusedBurst are recorded and the rest counted; the next record written
// — an accepted change, never suppressed — comes after one record saying
// how many were not recorded. As time passes the bucket refills at
// RefusedPerSecond.
func TestRefusedAttemptsAreBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := Open(slog.New(slog.DiscardHandler), path)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return clock }
	refused := Record{Operation: "net weave", Caller: "no credential from 10.1.2.3:1", Code: ptp.Unauthorized}
	for range 1000 {
		l.Refused(t.Context(), refused)
	}
	l.Record(t.Context(), Record{Operation: "node refresh", Caller: "loopback 127.0.0.1:1", Code: ptp.OK})
	clock = clock.Add(2 * time.Second) // two more tokens
	for range 3 {
		l.Refused(t.Context(), refused)
	}
	_ = l.Close()
	var ops []string
	var counts []int64
	for line := range strings.SplitSeq(strings.TrimSpace(readAll(t, path)), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, r.Operation)
		if r.Operation == SuppressedOp {
			counts = append(counts, r.Suppressed)
		}
	}
	want := append(slices.Repeat([]string{"net weave"}, RefusedBurst), SuppressedOp, "node refresh", "net weave", "net weave", SuppressedOp)
	if !slices.Equal(ops, want) {
		t.Fatalf("records %v\nwant %v", ops, want)
	}
	if !slices.Equal(counts, []int64{1000 - RefusedBurst, 1}) {
		t.Fatalf("suppressed counts %v, want [%d 1]", counts, 1000-RefusedBurst)
	}
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
