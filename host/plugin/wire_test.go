package plugin

import (
	"strings"
	"testing"
)

// TestDecodeDecision: only a JSON object is a decision, and only the field
// "allow" (exactly so) admits; a missing allow refuses, as ABI.md §4.2
// says.
func TestDecodeDecision(t *testing.T) {
	for _, tc := range []struct {
		out   string
		allow bool
		err   string
	}{
		{`{"allow":true}`, true, ""},
		{`{"allow":false,"reason":"no"}`, false, ""},
		{`{}`, false, ""},
		{`{"reason":"x","extra":1}`, false, ""},
		{`{"ALLOW":true}`, false, "case-sensitive"},
		{`{"Allow":true}`, false, "case-sensitive"},
		{`null`, false, "not an auth decision"},
		{`[]`, false, "not an auth decision"},
		{`true`, false, "not an auth decision"},
		{`{"allow":"yes"}`, false, "not an auth decision"},
		{``, false, "not an auth decision"},
	} {
		d, err := decodeDecision([]byte(tc.out))
		if tc.err == "" && (err != nil || d.Allow != tc.allow) {
			t.Errorf("%s: %+v %v, want allow=%v", tc.out, d, err, tc.allow)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || d.Allow) {
			t.Errorf("%s: %+v %v, want an error saying %q", tc.out, d, err, tc.err)
		}
	}
}
