package defaults

import (
	"testing"
	"time"
)

func TestFill(t *testing.T) {
	for _, tc := range []struct{ v, want int }{{0, 7}, {-3, 7}, {2, 2}} {
		v := tc.v
		if Fill(&v, 7); v != tc.want {
			t.Errorf("Fill(%d, 7) = %d, want %d", tc.v, v, tc.want)
		}
	}
	d := time.Duration(0)
	if Fill(&d, time.Second); d != time.Second {
		t.Errorf("Fill of a zero duration: %s", d)
	}
	s := ""
	if Fill(&s, "mesh"); s != "mesh" {
		t.Errorf("Fill of an empty string: %q", s)
	}
}
