package meshclient

import (
	"context"
	"fmt"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Session is one session's queues on the node: one FIFO queue per topic.
// It is safe for concurrent use.
type Session struct {
	t  *Transport
	id string
	md Metadata
}

// ID is the session id.
func (s *Session) ID() string { return s.id }

// call is a call of m on topic with the session's headers.
func (s *Session) call(m ptp.Method, topic string) call {
	return call{method: m, topic: topic, headers: s.md.headers(s.id, m)}
}

// Push stores payload at the tail of topic, on the session's target node
// (this node when md names none), and returns once it is stored. meta is
// the message's own metadata (keys that are not x-ptp-* or x-mesh-*).
func (s *Session) Push(ctx context.Context, topic string, payload []byte, meta map[string]string) error {
	if err := s.t.fits(len(payload)); err != nil {
		return fmt.Errorf("push to %s: %w", topic, err)
	}
	c := s.call(ptp.Push, topic)
	c.payload, c.meta = payload, meta
	_, err := s.do(ctx, c, 0)
	return err
}

// Pop removes and returns the head of topic, waiting up to timeout for one
// (0: the node's default, 120 s). It returns nil, nil when nothing came in
// time; a 0-byte message is an empty non-nil slice.
func (s *Session) Pop(ctx context.Context, topic string, timeout time.Duration) ([]byte, error) {
	c := s.call(ptp.Pop, topic)
	c.wait = waitMS(timeout)
	if timeout <= 0 {
		timeout = nodePopWait
	}
	return s.take(ctx, c, timeout)
}

// Peek returns the head of topic without removing it, or nil when topic is
// empty. It does not wait.
func (s *Session) Peek(ctx context.Context, topic string) ([]byte, error) {
	return s.take(ctx, s.call(ptp.Peek, topic), 0)
}

// Release drops topic and what it holds, or, when topic is "", the whole
// session: the node then answers pushes and pops of the session with
// ErrSessionReleased for a grace period, and Transport.Close no longer
// releases it.
func (s *Session) Release(ctx context.Context, topic string) error {
	if _, err := s.do(ctx, s.call(ptp.Release, topic), 0); err != nil {
		return err
	}
	if topic == "" {
		s.t.forget(s)
	}
	return nil
}

// PushMany pushes payloads to topic in their order with up to window
// pushes in flight (0: DefaultWindow). Over gRPC they share one
// PrivateTransferProtocol.transport stream, which the node answers in
// order, so the queue holds them in order. Over HTTP, where concurrent
// requests may be stored in any order, they go one at a time. It returns
// at the first failure, naming the message; later messages already in
// flight may have been stored.
func (s *Session) PushMany(ctx context.Context, topic string, payloads [][]byte, window int) error {
	for i, p := range payloads {
		if err := s.t.fits(len(p)); err != nil {
			return fmt.Errorf("push message %d of %d to %s: %w", i, len(payloads), topic, err)
		}
	}
	if err := s.t.live(); err != nil {
		return err
	}
	if window <= 0 {
		window = DefaultWindow
	}
	ctx, cancel := s.t.bound(ctx, 0)
	defer cancel()
	return ended(ctx, s.t.wire.pushMany(ctx, s.call(ptp.Push, topic), payloads, window))
}

// ended makes a node's 601 that raced the end of the call's ctx match the
// ctx's error too (errors.Is), as when the ctx ended the call first.
func ended(ctx context.Context, err error) error {
	if CodeOf(err) != ptp.Timeout {
		return err
	}
	if cerr := ctxErr(ctx); cerr != nil {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// ctxErr is ctx's error, or DeadlineExceeded once its deadline has passed
// even if its timer has not run yet (a loaded machine delays it).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// take pops or peeks: the message, or nil when none came.
func (s *Session) take(ctx context.Context, c call, wait time.Duration) ([]byte, error) {
	a, err := s.do(ctx, c, wait)
	if err != nil || !a.found {
		return nil, err
	}
	if a.payload == nil {
		return []byte{}, nil
	}
	return a.payload, nil
}

// do makes c bounded by ctx and the transport's timeout plus wait, and
// turns a failure code into an *Error.
func (s *Session) do(ctx context.Context, c call, wait time.Duration) (answer, error) {
	if err := s.t.live(); err != nil {
		return answer{}, err
	}
	ctx, cancel := s.t.bound(ctx, wait)
	defer cancel()
	a, err := s.t.wire.do(ctx, c)
	if err == nil {
		err = ended(ctx, check(a.code, a.message))
	}
	if err != nil {
		return a, fmt.Errorf("%s %s: %w", c.method, c.topic, err)
	}
	return a, nil
}

// bound is ctx bounded by the transport's timeout plus wait, if it has one.
func (t *Transport) bound(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	if t.opts.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.opts.timeout+wait)
}

// fits refuses a payload above the client's limit before it is sent.
func (t *Transport) fits(n int) error {
	if n <= t.opts.maxMessage {
		return nil
	}
	return &Error{Code: ptp.TooLarge, Message: fmt.Sprintf("payload of %d bytes exceeds the client's limit of %d bytes (WithMaxMessage)", n, t.opts.maxMessage)}
}

// waitMS is a pop's wait in whole ms, at least 1 when positive, so that a
// short wait never turns into the node's 120 s default.
func waitMS(d time.Duration) int32 {
	switch {
	case d <= 0:
		return 0
	case d < time.Millisecond:
		return 1
	case d.Milliseconds() > 1<<31-1:
		return 1<<31 - 1
	}
	return int32(d.Milliseconds())
}
