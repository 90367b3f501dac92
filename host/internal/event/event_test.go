package event

import "testing"

// TestRoundTrip: what Encode writes, Decode reads back, including counts
// of 0 and negatives.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 42, -3, 1 << 40} {
		o, got, ok := Decode(Encode("replica-a", n))
		if !ok || o != "replica-a" || got != n {
			t.Fatalf("round trip of %d: %q %d %v", n, o, got, ok)
		}
	}
}

// TestDecodeRefuses: data not of the format is not an event.
func TestDecodeRefuses(t *testing.T) {
	for _, d := range []string{"", "noseparator", " 5"} {
		if o, _, ok := Decode([]byte(d)); ok {
			t.Errorf("Decode(%q) = %q, ok", d, o)
		}
	}
	if o, n, ok := Decode([]byte("a x")); !ok || o != "a" || n != 0 {
		t.Errorf("a count that is not a number reads as 0: %q %d %v", o, n, ok)
	}
}
