// Package lifetest checks that a Close or Stop waits for the goroutines it
// owns: it is still blocked while one runs, and returns once it ended.
package lifetest

import (
	"testing"
	"time"
)

// Blocked is how long a call must stay blocked to count as waiting. It is
// a negative check: a call that returns within it did not wait.
const Blocked = 100 * time.Millisecond

// Waits runs stop in a goroutine, fails tb if it returns while the owned
// goroutine is held, then calls release and fails tb unless stop returns.
func Waits(tb testing.TB, what string, stop, release func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
		release()
		tb.Fatalf("%s returned while its goroutine was still running", what)
	case <-time.After(Blocked):
	}
	release()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s did not return once its goroutine ended", what)
	}
}
