package split

import (
	"slices"
	"testing"
)

func TestEven(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want []int
	}{
		{10, 4, []int{3, 3, 2, 2}},
		{7, 7, []int{1, 1, 1, 1, 1, 1, 1}},
		{3, 5, []int{1, 1, 1, 0, 0}},
		{0, 2, []int{0, 0}},
	} {
		if got := Even(tc.n, tc.k); !slices.Equal(got, tc.want) {
			t.Errorf("Even(%d, %d) = %v, want %v", tc.n, tc.k, got, tc.want)
		}
	}
}
