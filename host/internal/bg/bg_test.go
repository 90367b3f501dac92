package bg

import (
	"context"
	"testing"

	"github.com/ppcmesh/mesh/host/internal/lifetest"
)

// TestStopWaits: Stop cancels the goroutines' context and returns only once
// they have returned; Go after Stop runs nothing.
func TestStopWaits(t *testing.T) {
	g := New()
	entered, release, ended := make(chan struct{}), make(chan struct{}), make(chan struct{})
	if !g.Go(func(ctx context.Context) {
		close(entered)
		<-ctx.Done() // Stop ends the context...
		<-release    // ...and still waits for the goroutine to return
		close(ended)
	}) {
		t.Fatal("Go on a running group ran nothing")
	}
	<-entered
	lifetest.Waits(t, "Stop", g.Stop, func() { close(release) })
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned before the goroutine ended")
	}
	if g.Go(func(context.Context) { t.Error("ran after Stop") }) {
		t.Fatal("Go after Stop reported true")
	}
	g.Stop() // harmless twice
}
