package natsnames

import (
	"strings"
	"testing"
)

// TestToken: plain ids stay as they are, every other byte is =XX, the
// empty id is "=", and Untoken reads each back; what Token never writes,
// Untoken refuses.
func TestToken(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"node-a_1", "node-a_1"}, {"", "="}, {"a.b", "a=2Eb"}, {"a b>*", "a=20b=3E=2A"}, {"=", "=3D"},
	} {
		if got := Token(tc.in); got != tc.out {
			t.Errorf("Token(%q) = %q, want %q", tc.in, got, tc.out)
		}
		if back, ok := Untoken(tc.out); !ok || back != tc.in {
			t.Errorf("Untoken(%q) = %q, %v, want %q", tc.out, back, ok, tc.in)
		}
	}
	for _, bad := range []string{"=2", "a=", "=zz", "=+1"} {
		if got, ok := Untoken(bad); ok {
			t.Errorf("Untoken(%q) = %q, ok", bad, got)
		}
	}
}

// TestOutboxEventsCover: the outbox's subscription reaches both of its
// event kinds and none of the queues' subjects.
func TestOutboxEventsCover(t *testing.T) {
	wild := strings.TrimSuffix(OutboxEvents, ">")
	for _, p := range []string{OutboxAdded, OutboxTotal} {
		if !strings.HasPrefix(p, wild) {
			t.Errorf("%s is not under %s", p, OutboxEvents)
		}
	}
	for _, q := range QueueEvents() {
		if strings.HasPrefix(q, wild) || strings.HasPrefix(wild, strings.TrimSuffix(q, ">")) {
			t.Errorf("queue subject %s overlaps %s", q, OutboxEvents)
		}
	}
}

// FuzzToken: every id makes one subject token (no dot, space or
// wildcard, never empty) that Untoken reads back.
func FuzzToken(f *testing.F) {
	for _, s := range []string{"", "node-a", "a.b c", "=3D", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := Token(s)
		if tok == "" || strings.ContainsAny(tok, ". \t\r\n*>") {
			t.Fatalf("Token(%q) = %q: not one subject token", s, tok)
		}
		if back, ok := Untoken(tok); !ok || back != s {
			t.Fatalf("Untoken(Token(%q)) = %q, %v", s, back, ok)
		}
	})
}
