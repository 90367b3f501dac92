// Package api serves the node's interfaces on its one port: the container
// API (PrivateTransferTransport over gRPC, /v1/interconn/chan/* over HTTP),
// the node-to-node PrivateTransferProtocol (invoke, transport), the control
// endpoints and the health probes. Every wire form is decoded into one
// Request and answered by one Service, so the semantics live in one place.
package api

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/metrics"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
	"github.com/ppcmesh/mesh/host/tracing"
)

// Request is a container-API call, whatever wire it came on.
type Request struct {
	Method     ptp.Method
	Session    string
	Topic      string
	TargetNode string
	TargetInst string
	Timeout    int64 // pop wait in ms; 0 means the default
	Payload    []byte
	Metadata   map[string]string // message metadata, for push
	MessageID  string            // optional id chosen by the sender
	Source     string            // the source node the headers claim, if any
	Token      string            // x-ptp-token, for auth policies
	Bearer     string            // Authorization: Bearer, the container token
	Codec      string            // x-mesh-codec: from a partner, the codec the payload is encoded with; from a container, the codec to forward with
	Conn       *network.Conn     // the connection it came on; nil for in-process calls
	Provider   string            // x-ptp-tech-provider-code: FATE's pops that time out answer 601
	Dialect    ptp.Dialect       // the caller's dialect, when its form says so (Kuscia's); "" otherwise
	Trace      tracing.Context   // x-ptp-trace-id, traceparent and tracestate, as the caller sent them
	Op         metrics.Op        // the operation, for the metrics and the access log; OpOther: the Method's
	Wire       metrics.Transport // the wire it came on, for the metrics and the access log
}

// Reply is the answer to a Request.
type Reply struct {
	Code     ptp.Code
	Message  string
	Payload  []byte
	Metadata map[string]string
}

// Limits bound what one call may ask for.
type Limits struct {
	DefaultPopWait time.Duration  // when a pop gives no timeout; default 120s
	MaxPopWait     time.Duration  // longest pop wait; longer timeouts are clamped to it; default 11h, which covers FATE's shipped 10 h
	Logger         *slog.Logger   // where clamped pop timeouts are told; nil: nowhere
	MaxBody        int64          // largest message payload stored or forwarded (--max-message), on every transport, and largest answer read from a route's upstream; default 128 MiB
	Pops           *PopLimiter    // bounds the pops waiting at once; nil: no bound
	Metrics        *metrics.Calls // observes every call (metrics, access log); nil: nothing
}

// Service answers container-API requests from the node's queues.
type Service struct {
	plugins  *plugin.Registry
	queue    *queue.Queue
	ident    *identity.Store
	net      *network.Network
	limits   Limits
	clamps   *onceLog // tells each caller once that its pop timeout was clamped
	admit    Admission
	services Services      // registered services, and the proxy to them
	routes   *http.Client  // carries route handlers' forwards to local upstreams
	quit     chan struct{} // closed by Drain: the node is stopping
	drained  sync.Once
}

// NewService returns a Service over q for the node described by ident,
// forwarding to partners through net; admit says which callers without a
// partner certificate are containers; services are where registered paths
// go. Drain stops it waiting.
func NewService(q *queue.Queue, ident *identity.Store, net *network.Network, plugins *plugin.Registry, services Services, limits Limits, admit Admission) *Service {
	limits.defaults()
	return &Service{queue: q, ident: ident, net: net, plugins: plugins, services: services, limits: limits, admit: admit,
		clamps: newOnceLog(limits.Logger, clampLogEvery, clampLogKeys), routes: newRouteClient(routeHeaderTimeout), quit: make(chan struct{})}
}

// defaults fills the limits left zero from the node's defaults.
func (l *Limits) defaults() {
	if l.DefaultPopWait <= 0 {
		l.DefaultPopWait = defaults.DefaultPopWait
	}
	if l.MaxPopWait <= 0 {
		l.MaxPopWait = defaults.MaxPopWait
	}
	if l.MaxBody <= 0 {
		l.MaxBody = defaults.MaxMessage
	}
}

// Drain tells s the node is stopping: blocked pops return empty at once,
// transport streams end after the message in hand, and the route client's
// idle connections close. Safe to call more than once.
func (s *Service) Drain() {
	s.drained.Do(func() { close(s.quit) })
	s.routes.CloseIdleConnections()
}

// draining reports whether Drain was called.
func (s *Service) draining() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// untilDrain is ctx, also cancelled by Drain; cancel ends its watch.
func (s *Service) untilDrain(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Do carries out r: for a container, on this node's queues or by forwarding
// a push to the partner it targets; for a partner, only a push to this node.
// Every call is observed once here, whatever wire it came on (observe.go).
func (s *Service) Do(ctx context.Context, r Request) Reply {
	start := time.Now()
	ctx, sp := s.startCall(ctx, &r)
	rep := s.do(ctx, r)
	s.endCall(sp, &r, &rep)
	s.observe(&r, &rep, start)
	return rep
}

func (s *Service) do(ctx context.Context, r Request) Reply {
	r.Metadata = messageMetadata(r.Metadata) // reserved headers are the node's to set
	if err := checkRequest(r, s.limits.MaxBody); err != nil {
		return fail(err)
	}
	partner, err := s.caller(r)
	if err != nil {
		return fail(err)
	}
	calledBy(ctx, partner)
	id := s.ident.Current()
	local := isLocal(r, id)
	switch {
	case partner != "" && r.Method != ptp.Push:
		return fail(ptp.Errorf(ptp.NotPermitted, "partner %s may only deliver (push); %s is for this node's own containers", partner, r.Method))
	case partner != "" && !local:
		return fail(ptp.Errorf(ptp.NotPermitted, "partner %s asked this node (%s) to relay to %q: partners deliver only to the node they call",
			partner, id.NodeID, r.TargetNode+r.TargetInst))
	}
	if err := s.authorize(ctx, &r, partner, id); err != nil {
		return fail(err)
	}
	if r.Method == ptp.Push && !local {
		return s.forward(ctx, r)
	}
	if partner != "" && r.Codec != "" {
		p, err := s.plugins.Decode(ctx, r.Codec, r.Payload)
		if err == nil {
			err = checkPayload(p, s.limits.MaxBody, "decoded by "+r.Codec)
		}
		if err != nil {
			return fail(err)
		}
		r.Payload = p
	}
	k := queue.Key{Node: id.NodeID, Session: r.Session, Topic: r.Topic}
	switch r.Method {
	case ptp.Push:
		md := s.provenance(tracing.Outgoing(ctx, r.Trace).With(r.Metadata), partner, id)
		id, err := s.queue.Push(ctx, k, queue.Message{ID: r.MessageID, Payload: r.Payload, Metadata: md})
		if err != nil {
			return fail(err)
		}
		return Reply{Code: ptp.OK, Message: ptp.OK.Message(), Metadata: map[string]string{ptp.HeaderMessageID: id}}
	case ptp.Pop:
		return s.pop(ctx, k, r)
	case ptp.Peek:
		m, err := s.queue.Peek(ctx, k)
		return found(m, err)
	case ptp.Release:
		return fail(s.queue.Release(ctx, k))
	}
	return fail(ptp.Errorf(ptp.NoSuchService, "no method %q", r.Method))
}

// popWait is how long a pop waits: its timeout, the default when it gives
// none, and the longest wait when it asks for more — clamped, not refused,
// and told once per caller.
func (s *Service) popWait(r Request) (time.Duration, error) {
	max := s.limits.MaxPopWait
	switch {
	case r.Timeout < 0:
		return 0, ptp.Errorf(ptp.BadRequest, "timeout %d ms is negative", r.Timeout)
	case r.Timeout == 0:
		return s.limits.DefaultPopWait, nil
	case r.Timeout > math.MaxInt32:
		return 0, ptp.Errorf(ptp.BadRequest, "timeout %d ms is beyond PTP's range (int32 milliseconds)", r.Timeout)
	case r.Timeout > max.Milliseconds():
		s.clamps.log(r.Conn.RemoteIP()+" "+r.Provider, "pop timeout clamped to the longest wait",
			"caller", r.Conn.RemoteIP(), "provider", r.Provider, "timeout_ms", r.Timeout, "max_pop_wait", max)
		return max, nil
	}
	return time.Duration(r.Timeout) * time.Millisecond, nil
}

func (s *Service) pop(ctx context.Context, k queue.Key, r Request) Reply {
	wait, err := s.popWait(r)
	if err != nil {
		return fail(err)
	}
	if err := s.limits.Pops.Acquire(r.Conn); err != nil {
		return fail(err)
	}
	defer s.limits.Pops.Release(r.Conn)
	ctx, cancel := s.untilDrain(ctx)
	defer cancel()
	start := time.Now()
	m, err := s.queue.Pop(ctx, k, wait)
	s.popped(start, m)
	if errors.Is(err, context.Canceled) && s.draining() {
		err = nil // the node is stopping: answer as a timeout, nothing was taken
	}
	if m == nil && err == nil && strings.EqualFold(r.Provider, providerFATE) {
		// FATE's own broker answers CONSUME_MSG_TIMEOUT, on which FATE
		// raises a clean LookupError; an empty success breaks its decoder.
		err = ptp.Errorf(ptp.Timeout, "no message on topic %q within %v", r.Topic, wait)
	}
	rep := found(m, err)
	s.tracePop(ctx, &r, m, start, &rep)
	return rep
}

// provenance is a stored message's metadata: the sender's own, and who
// sent it as the node knows it (a partner by its certificate, else this
// node's container), which no sender's metadata can override.
func (s *Service) provenance(md map[string]string, partner string, id identity.Identity) map[string]string {
	out := make(map[string]string, len(md)+3)
	maps.Copy(out, md)
	out[ptp.HeaderSourceNodeID], out[ptp.HeaderSourceInstID], out[ptp.HeaderSender] = id.NodeID, id.InstID, "container"
	if partner != "" {
		r, _ := s.net.Get(partner)
		out[ptp.HeaderSourceNodeID], out[ptp.HeaderSourceInstID], out[ptp.HeaderSender] = partner, r.InstID, "partner"
	}
	return out
}

// caller names the partner r comes from, or "" for a container this node
// admits; anyone else is refused.
func (s *Service) caller(r Request) (string, error) {
	partner, err := s.net.Caller(r.Conn, r.Source)
	if err != nil || partner != "" {
		return partner, err
	}
	return "", s.admit.admit(r.Conn, r.Bearer)
}

// forward delivers a push to the partner it targets.
func (s *Service) forward(ctx context.Context, r Request) Reply {
	if r.Timeout > 0 { // x-ptp-timeout bounds the whole delivery, retries included
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.Timeout)*time.Millisecond)
		defer cancel()
	}
	rc, err := s.net.Forward(ctx, r.TargetNode, r.TargetInst, network.Delivery{
		Session: r.Session, Topic: r.Topic, ID: r.MessageID, Payload: r.Payload, Metadata: tracing.Outgoing(ctx, r.Trace).With(r.Metadata), Codec: r.Codec})
	if err != nil {
		return fail(err)
	}
	rep := Reply{Code: ptp.OK, Message: "delivered to " + rc.Node,
		Metadata: map[string]string{ptp.HeaderMessageID: rc.ID, ptp.HeaderDelivery: "delivered"}}
	if rc.Queued {
		rep.Message = rc.Node + " is unreachable: queued in the outbox, to be delivered when it returns"
		rep.Metadata[ptp.HeaderDelivery] = "queued"
	}
	return rep
}

// authorize asks the auth policies about r; what they add to a push joins
// its metadata.
func (s *Service) authorize(ctx context.Context, r *Request, partner string, id identity.Identity) error {
	caller, source := "container", id.NodeID
	if partner != "" {
		caller, source = "partner", partner
	}
	add, err := s.plugins.Authorize(ctx, plugin.AuthRequest{Method: string(r.Method), Session: r.Session, Topic: r.Topic,
		SourceNode: source, TargetNode: r.TargetNode, Token: r.Token, RemoteAddr: r.Conn.RemoteIP(),
		TLSIdentity: partner, Caller: caller})
	if err != nil || len(add) == 0 || r.Method != ptp.Push {
		return err
	}
	md := make(map[string]string, len(r.Metadata)+len(add))
	maps.Copy(md, r.Metadata)
	maps.Copy(md, add)
	r.Metadata = md
	return nil
}

// checkRequest checks what every request needs, and bounds everything in
// it that reaches NATS or a partner (see queue's limits), before anything
// is stored or forwarded: every transport's request passes here.
func checkRequest(r Request, maxPayload int64) error {
	if r.Session == "" {
		return ptp.Errorf(ptp.BadRequest, "missing session id: set header %s", ptp.HeaderSessionID)
	}
	if r.Topic == "" && r.Method != ptp.Release {
		return ptp.Errorf(ptp.BadRequest, "missing topic: set it in the body or header %s", ptp.HeaderTopic)
	}
	if err := checkIDs(r); err != nil {
		return err
	}
	if r.Method != ptp.Push {
		return nil
	}
	if err := checkPayload(r.Payload, maxPayload, ""); err != nil {
		return err
	}
	if err := queue.CheckMetadata(r.Metadata); err != nil {
		return err
	}
	return checkTrace(r.Trace)
}

// checkIDs bounds r's identifiers, each named with the header that sets it.
func checkIDs(r Request) error {
	for _, f := range [...]struct{ name, v string }{
		{"session id (" + ptp.HeaderSessionID + ")", r.Session},
		{"topic", r.Topic},
		{"target node id (" + ptp.HeaderTargetNodeID + ")", r.TargetNode},
		{"target inst id (" + ptp.HeaderTargetInstID + ")", r.TargetInst},
		{"source node id (" + ptp.HeaderSourceNodeID + ")", r.Source},
		{"message id (" + ptp.HeaderMessageID + ")", r.MessageID},
		{"codec (" + ptp.HeaderCodec + ")", r.Codec},
	} {
		if err := queue.CheckID(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// checkPayload is the one payload rule of every transport: a message of
// more than max bytes (the node's --max-message) is refused with 413.
func checkPayload(p []byte, max int64, how string) error {
	if int64(len(p)) <= max {
		return nil
	}
	if how != "" {
		how = " " + how
	}
	return ptp.Errorf(ptp.TooLarge, "payload%s of %d bytes exceeds the limit of %d bytes (--max-message)", how, len(p), max)
}

func isLocal(r Request, id identity.Identity) bool {
	if r.TargetNode != "" {
		return r.TargetNode == id.NodeID
	}
	return r.TargetInst == "" || r.TargetInst == id.InstID
}

func found(m *queue.Message, err error) Reply {
	if err != nil {
		return fail(err)
	}
	r := Reply{Code: ptp.OK, Message: ptp.OK.Message()}
	if m != nil {
		r.Payload = m.Payload
		if r.Payload == nil {
			r.Payload = []byte{} // a 0-byte message shows as one: "content":"", unlike a pop that timed out
		}
		r.Metadata = make(map[string]string, len(m.Metadata)+1)
		for k, v := range m.Metadata {
			r.Metadata[k] = v
		}
		r.Metadata[ptp.HeaderMessageID] = m.ID
	}
	return r
}

// fail turns err into a Reply; nil is success.
func fail(err error) Reply {
	c, msg := ptp.Describe(err)
	var pe *ptp.Error
	if errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &pe) {
		c, msg = ptp.Timeout, err.Error()
	}
	return Reply{Code: c, Message: msg}
}
