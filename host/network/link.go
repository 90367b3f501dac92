package network

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/ppcmesh/mesh/host/ptp"
)

// link is the pooled connection to one partner: one gRPC connection (one
// TCP/TLS connection carrying every call) and an HTTP client, built for one
// revision of the route and replaced when the route changes.
type link struct {
	node    string
	rev     uint64
	addr    Address
	cc      *grpc.ClientConn
	proto   ptp.PrivateTransferProtocolClient
	http    *http.Client
	base    string // scheme://host:port for HTTP calls
	streams []*stream
	cancel  context.CancelFunc
}

// links holds one link per partner, and the links replaced since (retired),
// which stay open a grace period for the calls in flight on them and are
// closed then or by closeAll, whichever comes first: the network owns every
// connection it opened until Close.
type links struct {
	n       *Network
	mu      sync.Mutex
	m       map[string]*link
	retired map[*link]*time.Timer
}

// retireGrace is how long a replaced link stays open for calls in flight.
const retireGrace = time.Minute

func newLinks(n *Network) *links {
	return &links{n: n, m: make(map[string]*link), retired: make(map[*link]*time.Timer)}
}

// get returns the link to route e, building it on first use or when the
// route has changed since.
func (ls *links) get(e *entry) (*link, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l, ok := ls.m[e.NodeID]; ok && l.rev == e.rev {
		return l, nil
	}
	l, err := ls.n.dial(e)
	if err != nil {
		return nil, err
	}
	if old, ok := ls.m[e.NodeID]; ok {
		ls.retire(old)
	}
	ls.m[e.NodeID] = l
	return l, nil
}

// retire closes old after retireGrace (or at closeAll); ls.mu is held.
func (ls *links) retire(old *link) {
	ls.retired[old] = time.AfterFunc(retireGrace, func() { ls.closeRetired(old) })
}

// closeRetired closes a retired link whose grace period is over, unless
// closeAll already has. It closes under ls.mu, so closeAll never returns
// while a retired link is still being closed.
func (ls *links) closeRetired(l *link) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if _, ok := ls.retired[l]; ok {
		delete(ls.retired, l)
		l.close()
	}
}

func (ls *links) drop(id string) {
	ls.mu.Lock()
	l := ls.m[id]
	delete(ls.m, id)
	ls.mu.Unlock()
	if l != nil {
		l.close()
	}
}

// closeAll closes every link, the current and the retired ones.
func (ls *links) closeAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for id, l := range ls.m {
		l.close()
		delete(ls.m, id)
	}
	for l, t := range ls.retired {
		t.Stop()
		l.close()
		delete(ls.retired, l)
	}
}

// dial builds the link to e. gRPC connects lazily, so dial does not wait
// for the partner.
func (n *Network) dial(e *entry) (*link, error) {
	if e.Address == "" {
		return nil, ptp.Errorf(ptp.BadAddress, "route to node %s has no address", e.NodeID)
	}
	a, err := ParseAddress(e.Address)
	if err != nil {
		return nil, err
	}
	if !a.TLS && !e.AllowPlaintext {
		return nil, ptp.Errorf(ptp.BadAddress, "partner %s: address %q is plaintext and the route does not allow it", e.NodeID, e.Address)
	}
	creds := insecure.NewCredentials()
	f := newFailover(a.Hosts)
	tr := &http.Transport{ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16, IdleConnTimeout: 5 * time.Minute,
		DialContext: f.dial, TLSHandshakeTimeout: 10 * time.Second}
	scheme := "http"
	if a.TLS {
		tc := n.clientTLS(e)
		creds = credentials.NewTLS(tc)
		tr.TLSClientConfig = tc.Clone()
		scheme = "https"
	}
	limit := int(n.cfg.MaxMessage) + 1<<20
	cc, err := grpc.NewClient("passthrough:///"+a.Host, grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(f.grpcDial),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limit), grpc.MaxCallSendMsgSize(limit)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 20 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		return nil, ptp.Errorf(ptp.BadAddress, "partner %s at %s: %v", e.NodeID, e.Address, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &link{node: e.NodeID, rev: e.rev, addr: a, cc: cc, proto: ptp.NewPrivateTransferProtocolClient(cc),
		http: &http.Client{Transport: tr}, base: scheme + "://" + a.Host, cancel: cancel}
	for range n.cfg.Streams {
		l.streams = append(l.streams, &stream{link: l, ctx: ctx})
	}
	return l, nil
}

func (l *link) close() {
	l.cancel()
	_ = l.cc.Close()
	l.http.CloseIdleConnections()
}

// doHTTP sends req and reads the PTP code of the reply.
func (l *link) doHTTP(req *http.Request) error {
	resp, err := l.http.Do(req)
	if err != nil {
		return unreachable(err)
	}
	defer resp.Body.Close()
	data := readReply(resp)
	code, msg, ok := decodeReply(data)
	if !ok {
		return ptp.Errorf(ptp.Incompatible, "partner %s: reply %d is not PTP: %.200q", l.node, resp.StatusCode, data)
	}
	return l.answered(code, msg)
}

// stream is one PrivateTransferProtocol.transport stream: pushes are sent
// without waiting for the previous answer, and answers come back in order.
type stream struct {
	link *link
	ctx  context.Context

	mu sync.Mutex // serialises sends and the order of waiting
	s  *openStream
}

// openStream is one opened stream and the answers it owes, in send order.
type openStream struct {
	st      ptp.PrivateTransferProtocol_TransportClient
	waiting chan chan error
	dead    chan struct{} // closed when the stream has ended
	err     error         // why it ended, set before dead closes
}

// maxInFlight bounds the pushes in flight on one stream.
const maxInFlight = 256

// send delivers in on the stream and waits for its answer.
func (s *stream) send(ctx context.Context, in *ptp.Inbound) error {
	done := make(chan error, 1)
	s.mu.Lock()
	if s.s == nil {
		st, err := s.link.proto.Transport(s.ctx)
		if err != nil {
			s.mu.Unlock()
			return s.link.failed(err)
		}
		s.s = &openStream{st: st, waiting: make(chan chan error, maxInFlight), dead: make(chan struct{})}
		go s.receive(s.s)
	}
	o := s.s
	select {
	case o.waiting <- done:
	case <-o.dead:
		s.mu.Unlock()
		return unreachable(o.err)
	}
	err := o.st.Send(in)
	s.mu.Unlock()
	if err != nil {
		s.forget(o)
		return unreachable(err)
	}
	select {
	case err := <-done:
		return err
	case <-o.dead:
		select {
		case err := <-done:
			return err
		default:
			return unreachable(o.err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// receive hands each answer to the send waiting for it. When the stream
// ends, every send still waiting fails, to be retried.
func (s *stream) receive(o *openStream) {
	for {
		out, err := o.st.Recv()
		if err == nil {
			select {
			case w := <-o.waiting:
				w <- s.link.answered(ptp.Code(out.Code), out.Message)
				continue
			default:
				err = errors.New("an answer nobody asked for: the stream is out of step")
			}
		}
		o.err = err
		close(o.dead)
		for {
			select {
			case w := <-o.waiting:
				w <- s.link.failed(err)
			default:
				s.forget(o)
				return
			}
		}
	}
}

// forget drops o so that the next send opens a new stream.
func (s *stream) forget(o *openStream) {
	s.mu.Lock()
	if s.s == o {
		s.s = nil
		_ = o.st.CloseSend()
	}
	s.mu.Unlock()
}

// answered turns the code the partner answered with into an error that
// names the partner.
// A partner's reply is relayed only as what the code table knows: its
// message is made valid UTF-8 and bounded (it goes into the caller's
// protobuf or JSON reply), and a code outside the table is answered as 600.
func (l *link) answered(c ptp.Code, msg string) error {
	if c == ptp.OK {
		return nil
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > maxPeerMessage {
		msg = strings.ToValidUTF8(msg[:maxPeerMessage], "") + "…"
	}
	if !c.Known() {
		return ptp.Errorf(ptp.Incompatible, "partner %s answered unknown code %q: %s", l.node, strings.ToValidUTF8(string(c), "\uFFFD"), msg)
	}
	return ptp.Errorf(c, "partner %s: %s", l.node, msg)
}

// maxPeerMessage bounds the partner's message relayed to a caller.
const maxPeerMessage = 1 << 10

// transportError is a failure to reach the partner at all.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func unreachable(err error) error {
	if err == nil {
		return nil
	}
	return &transportError{err: err}
}

// retryable says whether another attempt may succeed: not after a
// refusal in the deterministic table.
func retryable(err error) bool {
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var pe *ptp.Error
	if errors.As(err, &pe) {
		if deterministic[pe.Code] {
			return false
		}
		switch pe.Code {
		case ptp.BufferFull, ptp.SystemError, ptp.Timeout:
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// outgoingCtx also sends a push's PTP headers as gRPC metadata, for peers
// that read them only there.
func outgoingCtx(ctx context.Context, md map[string]string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.New(md))
}

// RoundTrip sends req to partner nodeID over its link (mTLS unless the
// route allows plaintext), at req's path and query: how a route handler
// forwards a request to a partner.
func (n *Network) RoundTrip(nodeID string, req *http.Request) (*http.Response, error) {
	e, l, err := n.partnerLink(nodeID, "")
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(l.base + req.URL.RequestURI())
	if err != nil {
		return nil, ptp.Errorf(ptp.BadRequest, "forward to %s: %v", nodeID, err)
	}
	req.URL, req.Host, req.RequestURI = u, u.Host, ""
	// The transport, not the client: a redirect is the partner's answer,
	// passed back to the caller as it came, never followed from here.
	resp, err := l.http.Transport.RoundTrip(req)
	if err != nil {
		return nil, &ptp.Error{Code: ptp.NetworkUnreachable, Err: err, Msg: fmt.Sprintf("partner %s at %s: %v", nodeID, e.Address, err)}
	}
	return resp, nil
}

// PartnerGRPC returns the gRPC connection to the partner named by nodeID
// (or, when nodeID is empty, by instID) and the partner's node id: how the
// node carries a container's gRPC call to a service the partner exposes.
// The connection is the link's and stays the network's to close.
func (n *Network) PartnerGRPC(nodeID, instID string) (string, grpc.ClientConnInterface, error) {
	e, l, err := n.partnerLink(nodeID, instID)
	if err != nil {
		return "", nil, err
	}
	return e.NodeID, l.cc, nil
}

// PartnerNode names the partner a request for nodeID (or instID) goes to,
// checking that its route is usable. It opens no connection.
func (n *Network) PartnerNode(nodeID, instID string) (string, error) {
	e, err := n.partner(nodeID, instID)
	if err != nil {
		return "", err
	}
	return e.NodeID, nil
}

// partner resolves a partner whose route is usable.
func (n *Network) partner(nodeID, instID string) (*entry, error) {
	e, ok := n.resolve(nodeID, instID)
	if !ok {
		return nil, ptp.Errorf(ptp.NotWoven, "node %q (inst %q) is not a partner of this node", nodeID, instID)
	}
	return e, e.usable(time.Now())
}

// partnerLink resolves a partner and returns its route and link.
func (n *Network) partnerLink(nodeID, instID string) (*entry, *link, error) {
	e, err := n.partner(nodeID, instID)
	if err != nil {
		return nil, nil, err
	}
	l, err := n.links.get(e)
	if err != nil {
		return nil, nil, err
	}
	return e, l, nil
}
