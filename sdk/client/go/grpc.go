package meshclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ppcmesh/mesh/host/ptp"
)

// pushURI names the push a PrivateTransferProtocol.transport message is.
const pushURI = "/org.ppc.ptp.PrivateTransferTransport/push"

// grpcWire speaks PrivateTransferTransport (and, for PushMany, the
// transport stream of PrivateTransferProtocol) on one connection.
type grpcWire struct {
	addr string
	cc   *grpc.ClientConn
	tr   ptp.PrivateTransferTransportClient
	pr   ptp.PrivateTransferProtocolClient
}

// GRPCDialOptions are the options Dial gives grpc.NewClient: creds (nil:
// plaintext) and message limits for payloads of maxMessage bytes. Other
// gRPC clients of the node (host/client) share them.
func GRPCDialOptions(creds credentials.TransportCredentials, maxMessage int) []grpc.DialOption {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	limit := maxMessage + envelopeRoom
	return []grpc.DialOption{grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit), grpc.MaxCallSendMsgSize(limit))}
}

// dialGRPC connects to addr and waits, bounded by ctx, until the
// connection is ready.
func dialGRPC(ctx context.Context, addr string, o options) (*grpcWire, error) {
	var creds credentials.TransportCredentials
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	cc, err := grpc.NewClient(addr, GRPCDialOptions(creds, o.maxMessage)...)
	if err != nil {
		return nil, err
	}
	if err := ready(ctx, cc); err != nil {
		_ = cc.Close()
		return nil, err
	}
	return &grpcWire{addr: addr, cc: cc, tr: ptp.NewPrivateTransferTransportClient(cc), pr: ptp.NewPrivateTransferProtocolClient(cc)}, nil
}

// ready waits until cc is connected, failing at the first failed attempt.
func ready(ctx context.Context, cc *grpc.ClientConn) error {
	cc.Connect()
	for {
		switch s := cc.GetState(); s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return fmt.Errorf("node not reachable (%s)", s)
		default:
			if !cc.WaitForStateChange(ctx, s) {
				return ctx.Err()
			}
		}
	}
}

func (g *grpcWire) close() error { return g.cc.Close() }

// outgoing is ctx carrying headers as gRPC metadata.
func outgoing(ctx context.Context, headers map[string]string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.New(headers))
}

func (g *grpcWire) do(ctx context.Context, c call) (answer, error) {
	ctx = outgoing(ctx, c.headers)
	var out *ptp.TransportOutbound
	var err error
	switch c.method {
	case ptp.Push:
		out, err = g.tr.Push(ctx, &ptp.PushInbound{Topic: c.topic, Payload: c.payload, Metadata: c.meta})
	case ptp.Pop:
		out, err = g.tr.Pop(ctx, &ptp.PopInbound{Topic: c.topic, Timeout: c.wait})
	case ptp.Peek:
		out, err = g.tr.Peek(ctx, &ptp.PeekInbound{Topic: c.topic})
	case ptp.Release:
		out, err = g.tr.Release(ctx, &ptp.ReleaseInbound{Topic: c.topic})
	}
	if err != nil {
		return answer{}, g.failed(ctx, err)
	}
	_, found := out.Metadata[ptp.HeaderMessageID]
	return answer{code: ptp.Code(out.Code), message: out.Message, payload: out.Payload, found: found}, nil
}

// failed is the error of a call that got no PTP answer: the ctx's error
// when it ended the call, else the gRPC error, naming the node.
func (g *grpcWire) failed(ctx context.Context, err error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded: // the ctx's deadline, seen by gRPC before the ctx's timer ran
		return fmt.Errorf("node at %s: %w (%s)", g.addr, context.DeadlineExceeded, status.Convert(err).Message())
	case codes.ResourceExhausted:
		// A message above the client's limits (WithMaxMessage).
		return &Error{Code: ptp.TooLarge, Message: fmt.Sprintf("node at %s: %s", g.addr, status.Convert(err).Message())}
	}
	return fmt.Errorf("node at %s: %w", g.addr, err)
}

// pushMany sends the pushes as transport-stream messages, up to window
// ahead of the node's answers, which come in order. The sending goroutine
// ends before pushMany returns.
func (g *grpcWire) pushMany(ctx context.Context, c call, payloads [][]byte, window int) error {
	if len(payloads) == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := g.pr.Transport(outgoing(ctx, c.headers))
	if err != nil {
		return g.failed(ctx, err)
	}
	slots := make(chan struct{}, window)
	sent := make(chan error, 1)
	go func() { sent <- sendAll(ctx, stream, c.topic, payloads, slots) }()
	i, err := recvAll(stream, len(payloads), slots)
	if err != nil {
		cancel()
	}
	sendErr := <-sent
	switch {
	case err == nil && sendErr == nil:
		return nil
	case err == nil:
		return g.failed(parent, sendErr)
	}
	var pe *Error
	if !errors.As(err, &pe) {
		if errors.Is(err, io.EOF) && sendErr != nil && !errors.Is(sendErr, context.Canceled) {
			err = sendErr // the stream ended because a send failed
		}
		err = g.failed(parent, err)
	}
	return fmt.Errorf("push message %d of %d to %s: %w", i, len(payloads), c.topic, err)
}

// recvAll reads the node's n answers in order, freeing a slot for each,
// and returns the index and error of the first that is not a success.
func recvAll(stream ptp.PrivateTransferProtocol_TransportClient, n int, slots chan struct{}) (int, error) {
	for i := range n {
		out, err := stream.Recv()
		if err != nil {
			return i, err
		}
		if err := check(ptp.Code(out.Code), out.Message); err != nil {
			return i, err
		}
		<-slots
	}
	return n, nil
}

// sendAll sends each payload once a slot is free, then closes the send side.
func sendAll(ctx context.Context, stream ptp.PrivateTransferProtocol_TransportClient, topic string, payloads [][]byte, slots chan struct{}) error {
	md := map[string]string{ptp.HeaderURI: pushURI, ptp.HeaderForm: ptp.FormRaw, ptp.HeaderTopic: topic}
	for _, p := range payloads {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := stream.Send(&ptp.Inbound{Metadata: md, Payload: p}); err != nil {
			return err
		}
	}
	return stream.CloseSend()
}
