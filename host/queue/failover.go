package queue

import (
	"context"
	"time"

	"github.com/ppcmesh/mesh/host/internal/jserr"
)

// When a NATS server dies, the streams it led elect a new leader among the
// survivors; until they have one (a few seconds), requests find no
// responder or time out. The hot path retries them within failoverFor, so
// that a caller sees a slower call rather than an error. Every retried
// request is safe to repeat: reads change nothing, stores are de-duplicated
// by Nats-Msg-Id, and a delete that already happened answers "gone".
const (
	failoverFor    = 15 * time.Second
	attemptTimeout = 4 * time.Second
)

// retry runs op until it succeeds, fails for good, ctx ends or the
// failover window passes.
func retry[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(failoverFor)
	pause := 25 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		v, err := op(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

// transient reports whether err says the stream is between leaders rather
// than refusing the request.
func transient(err error) bool { return jserr.IsTransient(err) }
