// Package split divides a count of operations among workers, for the
// benchmarks, which must run exactly b.N operations whatever the number of
// workers.
package split

// Even splits n operations among k workers exactly: each gets n/k, and the
// first n%k one more.
func Even(n, k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = n / k
		if i < n%k {
			out[i]++
		}
	}
	return out
}
