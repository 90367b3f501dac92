package meshclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/ppcmesh/mesh/host/ptp"
)

// call is one container-API call, whatever wire carries it.
type call struct {
	method  ptp.Method
	topic   string
	payload []byte            // of a push
	meta    map[string]string // a push's own message metadata
	headers map[string]string // the PTP headers (lower case)
	wait    int32             // a pop's wait in ms
}

// answer is the node's answer to a call.
type answer struct {
	code    ptp.Code
	message string
	payload []byte
	found   bool // a message was popped or peeked (it may be 0 bytes)
}

// wire is a transport to a node: gRPC or HTTP.
type wire interface {
	do(ctx context.Context, c call) (answer, error)
	// pushMany pushes payloads to one topic in order, up to window in flight.
	pushMany(ctx context.Context, c call, payloads [][]byte, window int) error
	close() error
}

// Transport is a connection to a container's own node. It is safe for
// concurrent use; Close releases the sessions opened on it.
type Transport struct {
	addr string
	opts options
	wire wire
	hc   *http.Client // for RPC over the node's HTTP port; see HTTPClient

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
}

// Dial connects to the node at address (host:port) over gRPC, or HTTP with
// WithHTTP, and waits, bounded by ctx, until the node answers: a wrong
// address fails here rather than at the first push.
func Dial(ctx context.Context, address string, opts ...Option) (*Transport, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxMessage <= 0 {
		return nil, fmt.Errorf("meshclient: max message %d: must be positive", o.maxMessage)
	}
	t := &Transport{addr: address, opts: o, sessions: map[*Session]struct{}{}}
	t.hc = newHTTPClient(o)
	var err error
	if o.http {
		t.wire, err = dialHTTP(ctx, address, t.hc, o)
	} else {
		t.wire, err = dialGRPC(ctx, address, o)
	}
	if err != nil {
		return nil, fmt.Errorf("meshclient: dial %s: %w", address, err)
	}
	return t, nil
}

// Address is the node's address as given to Dial.
func (t *Transport) Address() string { return t.addr }

// BaseURL is the node's HTTP base URL (https with WithTLS), for calls the
// SDK's own methods do not make, such as service RPC.
func (t *Transport) BaseURL() string { return baseURL(t.addr, t.opts.tls != nil) }

// HTTPClient is the HTTP client that reaches the node (the one HTTP calls
// use, or one with the same TLS settings on a gRPC Transport). Requests
// sent through it should carry AuthHeader.
func (t *Transport) HTTPClient() *http.Client { return t.hc }

// AuthHeader is the Authorization value the Transport sends ("" without a
// token).
func (t *Transport) AuthHeader() string {
	if t.opts.token == "" {
		return ""
	}
	return "Bearer " + t.opts.token
}

// Open returns a session of the node's queues under sessionID. It makes no
// call. md holds the session's PTP headers (see Metadata); it is copied.
func (t *Transport) Open(ctx context.Context, sessionID string, md Metadata) (*Session, error) {
	if sessionID == "" {
		return nil, &Error{Code: ptp.BadRequest, Message: "empty session id"}
	}
	s := &Session{t: t, id: sessionID, md: make(Metadata, len(md))}
	for k, v := range md {
		s.md[k] = v
	}
	if t.opts.token != "" {
		s.md["authorization"] = "Bearer " + t.opts.token
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	t.sessions[s] = struct{}{}
	return s, nil
}

// Close releases every session opened on t and not released yet, then
// closes the connection. Calls after Close fail with ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	open := t.sessions
	t.sessions = nil
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var errs []error
	for s := range open {
		if _, err := t.wire.do(ctx, s.call(ptp.Release, "")); err != nil {
			errs = append(errs, fmt.Errorf("release session %s: %w", s.id, err))
		}
	}
	errs = append(errs, t.wire.close())
	t.hc.CloseIdleConnections()
	return errors.Join(errs...)
}

// forget drops s from the sessions Close releases.
func (t *Transport) forget(s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.sessions, s)
}

// live fails once t is closed.
func (t *Transport) live() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	return nil
}
