package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/ptp"
)

// stall bounds how long the stalling servers below hold a call before they
// answer success: a client that ignores its ctx gets that success.
const stall = 3 * time.Second

// hold waits until ctx ends (its error) or stall passes (nil).
func hold(ctx context.Context) error {
	t := time.NewTimer(stall)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// stallingTransport answers success: a pop after hold, a push at once (after
// hold when its topic is "hold"); a call whose ctx ends first gets the ctx's
// error. Push records the metadata it was sent.
type stallingTransport struct {
	ptp.UnimplementedPrivateTransferTransportServer
	md chan metadata.MD
}

func (s *stallingTransport) Push(ctx context.Context, in *ptp.PushInbound) (*ptp.TransportOutbound, error) {
	if in.Topic == "hold" {
		if err := hold(ctx); err != nil {
			return nil, status.FromContextError(err).Err()
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	select {
	case s.md <- md:
	default:
	}
	return &ptp.TransportOutbound{Code: string(ptp.OK)}, nil
}

func (s *stallingTransport) Pop(ctx context.Context, _ *ptp.PopInbound) (*ptp.TransportOutbound, error) {
	if err := hold(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return &ptp.TransportOutbound{Code: string(ptp.OK)}, nil
}

// startGRPC serves srv on loopback and returns a GRPC client of session s.
func startGRPC(t *testing.T, srv *stallingTransport) *GRPC {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	ptp.RegisterPrivateTransferTransportServer(gs, srv)
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-done })
	cc, err := Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return NewGRPC(cc, "s")
}

// startStallingHTTP serves a node that holds every chan call, then answers
// success in JSON (nothing, when the client left first).
func startStallingHTTP(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then the server sees the client leave
		if hold(r.Context()) != nil {
			return // the client left
		}
		_, _ = w.Write([]byte(`{"code":"E0000000000","message":"ok"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cancelled reports whether err is a call ended by its ctx's deadline.
func cancelled(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}

// TestCallsEndWithTheirContext: every container-client call is bounded by
// the caller's ctx: against a node that holds the call, the call ends with
// the ctx's deadline, not with the node's late success.
func TestCallsEndWithTheirContext(t *testing.T) {
	h := &HTTP{URL: startStallingHTTP(t), Session: "s"}
	raw := &HTTP{URL: h.URL, Session: "s", Raw: true}
	g := startGRPC(t, &stallingTransport{md: make(chan metadata.MD, 1)})
	calls := map[string]func(ctx context.Context) error{
		"http push":    func(ctx context.Context) error { _, err := h.Push(ctx, "t", []byte("x")); return err },
		"http pop":     func(ctx context.Context) error { _, _, err := h.Pop(ctx, "t", 60000); return err },
		"http peek":    func(ctx context.Context) error { _, _, err := h.Peek(ctx, "t"); return err },
		"http release": func(ctx context.Context) error { _, err := h.Release(ctx, "t"); return err },
		"raw push":     func(ctx context.Context) error { _, err := raw.Push(ctx, "t", []byte("x")); return err },
		"raw pop":      func(ctx context.Context) error { _, _, err := raw.Pop(ctx, "t", 60000); return err },
		"grpc push":    func(ctx context.Context) error { _, err := g.Push(ctx, "hold", []byte("x")); return err },
		"grpc pop":     func(ctx context.Context) error { _, _, err := g.Pop(ctx, "t", 60000); return err },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		err := call(ctx)
		cancel()
		if !cancelled(err) {
			t.Errorf("%s: got %v, want the ctx's deadline", name, err)
		}
	}
}

// TestGRPCAppendsToCallerMetadata: the gRPC client adds the session and
// target to the caller's outgoing metadata and keeps what the caller set
// there (a trace id, a token).
func TestGRPCAppendsToCallerMetadata(t *testing.T) {
	srv := &stallingTransport{md: make(chan metadata.MD, 1)}
	g := startGRPC(t, srv)
	g.Target = "node-b"
	ctx := metadata.AppendToOutgoingContext(t.Context(), ptp.HeaderTraceID, "tr-1")
	if code, err := g.Push(ctx, "t", []byte("x")); err != nil || code != ptp.OK {
		t.Fatalf("push: %s %v", code, err)
	}
	md := <-srv.md
	for k, want := range map[string]string{ptp.HeaderSessionID: "s", ptp.HeaderTargetNodeID: "node-b", ptp.HeaderTraceID: "tr-1"} {
		if got := md.Get(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
}
