package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/registry"
)

// Frame is one gRPC message carried through undecoded: the proxy's codec
// hands the received buffers over and sends them on as they came.
type Frame struct {
	data mem.BufferSlice
}

// Len is the frame's size in bytes.
func (f *Frame) Len() int { return f.data.Len() }

// codec passes *Frame through as raw bytes and delegates everything else
// (the node's own services) to the proto codec.
type codec struct {
	proto encoding.CodecV2
}

// Codec is the server codec the node installs with grpc.ForceServerCodecV2:
// raw frames for proxied calls, proto for the node's own services.
func Codec() encoding.CodecV2 {
	return codec{proto: encoding.GetCodecV2(proto.Name)}
}

// Marshal hands the frame's buffers to gRPC, which frees them once sent.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*Frame)
	if !ok {
		return c.proto.Marshal(v)
	}
	out := f.data
	f.data = nil
	return out, nil
}

// Unmarshal keeps a reference to the received buffers in the frame.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*Frame)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	data.Ref()
	f.data = data
	return nil
}

// Name is the proto codec's name: what proxied calls are on the wire.
func (codec) Name() string { return proto.Name }

// anyCall describes a proxied call of any kind: both sides may stream.
func anyCall() *grpc.StreamDesc {
	return &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
}

// ServeGRPC proxies one gRPC call (unary or streaming) to an instance of
// route, frame by frame, for grpc.UnknownServiceHandler. Request metadata
// passes upstream; response headers, trailers and status come back as the
// upstream sent them. A call is retried on another instance only when the
// stream could not be opened (nothing was sent). route.Timeout, when set,
// bounds the whole call; otherwise only the caller's deadline does. It
// returns a *ptp.Error when the call reached no instance or timed out,
// else the upstream's status.
func (p *Proxy) ServeGRPC(stream grpc.ServerStream, method string, route registry.Route) error {
	rs := p.state(route)
	rs.stats.inflight.Add(1)
	start := time.Now()
	var err error
	defer func() {
		rs.stats.inflight.Add(-1)
		rs.stats.done(grpcClass(err), status.Code(err) != codes.OK, time.Since(start))
	}()
	stream, sp := p.traceGRPC(stream, method, route)
	defer func() { endProxy(sp, 0, grpcErr(err)) }()
	err = p.serveGRPC(stream, method, route, rs)
	return err
}

// grpcClass is the stats class of a gRPC outcome.
func grpcClass(err error) string {
	var pe *ptp.Error
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	return status.Code(err).String()
}

func (p *Proxy) serveGRPC(stream grpc.ServerStream, method string, route registry.Route, rs *routeState) error {
	ctx, cancel := callContext(stream.Context(), route)
	defer cancel()
	md, _ := metadata.FromIncomingContext(stream.Context())
	t := &tries{route: route, rs: rs}
	for extra := 0; ; extra++ {
		u, err := t.next()
		if err != nil {
			return err
		}
		cs, err := p.open(ctx, u, method, md)
		if err != nil {
			u.failed(err, rs.threshold())
			t.failures = append(t.failures, "instance "+u.id+": "+status.Convert(err).Message())
			if status.Code(err) == codes.Unavailable && extra < max(route.Retries, 1) && ctx.Err() == nil {
				continue
			}
			if len(t.failures) > 1 {
				err = noneAnswered(route, t.failures, err)
			}
			return timedOut(ctx, stream, route, err)
		}
		u.succeeded()
		err = pipe(stream, cs, cancel, p.spawn(cancel))
		u.inflight.Add(-1)
		return timedOut(ctx, stream, route, err)
	}
}

// callContext bounds a proxied call by the route's timeout, if it sets one.
func callContext(ctx context.Context, route registry.Route) (context.Context, context.CancelFunc) {
	if route.Timeout > 0 {
		return context.WithTimeout(ctx, route.Timeout)
	}
	return context.WithCancel(ctx)
}

// timedOut turns the expiry of the route's own timeout into ptp.Timeout.
func timedOut(ctx context.Context, stream grpc.ServerStream, route registry.Route, err error) error {
	// the upstream may see the propagated deadline pass a moment before ctx does
	ours := errors.Is(ctx.Err(), context.DeadlineExceeded) || (route.Timeout > 0 && status.Code(err) == codes.DeadlineExceeded)
	if err != nil && ours && stream.Context().Err() == nil {
		return ptp.Errorf(ptp.Timeout, "route %s: no answer within %v", route.Key, route.Timeout)
	}
	return err
}

// open starts the upstream half of a call on u.
func (p *Proxy) open(ctx context.Context, u *upstream, method string, md metadata.MD) (grpc.ClientStream, error) {
	cc, err := p.conn(u.addr)
	if err != nil {
		return nil, err
	}
	u.inflight.Add(1)
	out := md.Copy()
	if p.cfg.Via != "" {
		out.Append(ViaHeader, p.cfg.Via)
	}
	traceOutGRPC(ctx, out)
	cs, err := cc.NewStream(metadata.NewOutgoingContext(ctx, out), anyCall(), method, grpc.ForceCodecV2(Codec()))
	if err != nil {
		u.inflight.Add(-1)
	}
	return cs, err
}

// ForwardGRPC is ServeGRPC to a given connection instead of a route's
// instances, with md as the outgoing metadata (the node sends calls to a
// partner over the partner's gRPC connection this way). It neither
// retries nor counts statistics. Its caller-to-upstream copy is bound to
// the call: it ends once the handler returns (the server then ends the
// stream) and cannot outlive the gRPC server's own shutdown.
func ForwardGRPC(stream grpc.ServerStream, method string, cc grpc.ClientConnInterface, md metadata.MD) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	cs, err := cc.NewStream(metadata.NewOutgoingContext(ctx, md), anyCall(), method, grpc.ForceCodecV2(Codec()))
	if err != nil {
		return err
	}
	return pipe(stream, cs, cancel, func(f func()) bool { go f(); return true })
}

// spawn runs the caller-to-upstream copy of a call in the proxy's group:
// Close cancels the call (through cancel) and waits for the copy.
func (p *Proxy) spawn(cancel context.CancelFunc) func(func()) bool {
	return func(f func()) bool {
		return p.group.Go(func(ctx context.Context) {
			stop := context.AfterFunc(ctx, cancel)
			defer stop()
			f()
		})
	}
}

// pipe copies frames both ways until the upstream ends the call, and
// returns its status. The caller-to-upstream copy runs in a goroutine
// started by spawn; a failure there cancels the call. The copy ends when
// the call does: cancel ends the upstream half, and the server ends the
// caller's half once the handler returns.
func pipe(stream grpc.ServerStream, cs grpc.ClientStream, cancel context.CancelFunc, spawn func(func()) bool) error {
	up := make(chan error, 1)
	if !spawn(func() {
		err := toUpstream(stream, cs)
		if err != nil {
			cancel()
		}
		up <- err
	}) {
		cancel()
		return ptp.Errorf(ptp.SystemError, "proxy closed")
	}
	err := toCaller(stream, cs)
	stream.SetTrailer(cs.Trailer())
	select {
	case uerr := <-up:
		if uerr != nil {
			return status.Errorf(codes.Internal, "proxy: relaying the caller's messages: %v", uerr)
		}
	default:
	}
	return err
}

// toUpstream copies the caller's messages upstream, then half-closes.
// It returns nil when the caller finished sending.
func toUpstream(stream grpc.ServerStream, cs grpc.ClientStream) error {
	for {
		f := &Frame{}
		if err := stream.RecvMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				return cs.CloseSend()
			}
			return err
		}
		if err := cs.SendMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the upstream ended the call; toCaller reports its status
			}
			return err
		}
	}
}

// toCaller passes the upstream's headers and messages to the caller, and
// returns the upstream's status (nil for OK).
func toCaller(stream grpc.ServerStream, cs grpc.ClientStream) error {
	if hdr, _ := cs.Header(); hdr != nil {
		if err := stream.SendHeader(hdr); err != nil {
			return err
		}
	}
	for {
		f := &Frame{}
		if err := cs.RecvMsg(f); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := stream.SendMsg(f); err != nil {
			return err
		}
	}
}

// conn is the pooled gRPC connection to an instance address.
func (p *Proxy) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, status.Error(codes.Unavailable, "proxy closed")
	}
	if cc := p.conns[addr]; cc != nil {
		return cc, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return p.cfg.Dial(ctx, "tcp", a) }),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(p.cfg.MaxMessage)), grpc.MaxCallSendMsgSize(int(p.cfg.MaxMessage))),
		// a short reconnect backoff: an instance the checks see recover is used again promptly
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: MaxProbeTimeout, Backoff: backoff.Config{
			BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}}))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "instance address %s: %v", addr, err)
	}
	p.conns[addr] = cc
	return cc, nil
}

// staleConnsLocked removes and returns the pooled connections no tracked
// instance uses any more. p.mu is held.
func (p *Proxy) staleConnsLocked() []*grpc.ClientConn {
	used := map[string]bool{}
	for _, rs := range p.routes {
		rs.mu.Lock()
		for _, u := range rs.instances {
			used[u.addr] = true
		}
		rs.mu.Unlock()
	}
	var out []*grpc.ClientConn
	for addr, cc := range p.conns {
		if !used[addr] {
			out = append(out, cc)
			delete(p.conns, addr)
		}
	}
	return out
}
