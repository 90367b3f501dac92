package network

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// The weave handshake between this node (A, the initiator) and a partner
// (B, the responder). Every step runs over TLS to the partner's port (which
// accepts TLS whatever the scheme of its data address), with each side's
// certificate as proof that it holds a key its root certified.
//
//  1. A's operator: net/refresh {node_id: B, address} then net/weave {node_id: B}.
//  2. A → B  POST /v1/interconn/net/hello {A's ids, root, address,
//     commit = Commitment(A, rootA, nonceA)}. B checks that A's client
//     certificate chains to that root and names A, records the root as a
//     pending candidate (never over a route its operator made otherwise)
//     and answers with its ids, root and a fresh nonceB. A checks that B's
//     serving certificate chains to that root and names B.
//  3. A → B  POST /v1/interconn/net/reveal {nonceA}, over TLS verified
//     against B's root. B checks the commitment. Both sides now show
//     AuthCode(A, B, rootA, rootB, nonceA, nonceB). A had to commit before it
//     saw nonceB, B chose nonceB before it saw nonceA: whoever sits in the
//     middle gets one chance in 2^80 per handshake to make the codes agree.
//  4. The operators compare the codes out of band. Each acks with the code
//     the other read out: net/ack {node_id, inst_id?, code}; a missing or
//     wrong code is refused. The acking node tells the partner over mTLS
//     (POST /v1/interconn/net/confirm {code}); a route is woven only once
//     its own operator and the partner have both confirmed. The initiator
//     never takes a state from the partner's answers.
//  5. A confirmation that finds the receiver already acked is answered with
//     the receiver's own confirmation, so a confirm lost while one node was
//     down is learnt when the other side acks, or by acking again (ack is
//     idempotent and re-sends the confirmation).
//
// Only public certificates travel; private keys never leave their node.

// Hello is the first round of the handshake, both ways: the initiator's
// hello and the responder's answer.
type Hello struct {
	NodeID   string `json:"node_id"`
	InstID   string `json:"inst_id,omitempty"`
	InstName string `json:"inst_name,omitempty"`
	RootCrt  string `json:"root_crt"`
	Address  string `json:"address,omitempty"`
	Target   string `json:"target_node_id,omitempty"` // whom the sender means to reach
	Commit   string `json:"commit,omitempty"`         // in a hello: the initiator's commitment, hex
	Nonce    string `json:"nonce,omitempty"`          // in an answer: the responder's nonce, hex
}

// Reveal is the second round, initiator to responder: the nonce the hello
// committed to.
type Reveal struct {
	NodeID string `json:"node_id"`
	Target string `json:"target_node_id,omitempty"`
	Nonce  string `json:"nonce"`
}

// Confirmation is the body of POST /v1/interconn/net/confirm: the sender's
// operator acked the handshake with this code.
type Confirmation struct {
	NodeID string `json:"node_id"`
	Code   string `json:"code"`
}

// maxPendingIn bounds routes created by partners' hellos and not yet acked,
// so that strangers cannot fill the route table.
const maxPendingIn = 256

// handshakeTimeout bounds each handshake call to a partner.
const handshakeTimeout = 30 * time.Second

// hello is what this node says of itself.
func (n *Network) hello(target string) (Hello, []byte, error) {
	id := n.ident.Current()
	if id.NodeID == "" {
		return Hello{}, nil, ptp.Errorf(ptp.BadRequest, "this node has no identity yet: POST /v1/interconn/node/refresh first")
	}
	root, der, err := canonicalRoot(string(id.Root.CertPEM))
	if err != nil {
		return Hello{}, nil, ptp.Errorf(ptp.SystemError, "this node's root: %v", err)
	}
	return Hello{NodeID: id.NodeID, InstID: id.InstID, InstName: id.InstName, RootCrt: root,
		Address: n.cfg.Advertise, Target: target}, der, nil
}

// Weave runs the handshake with the partner at node id's route address.
func (n *Network) Weave(ctx context.Context, id string) (Route, error) {
	e, err := n.weavable(id)
	if err != nil {
		return Route{}, err
	}
	me, myDER, err := n.hello(id)
	if err != nil {
		return Route{}, err
	}
	nonce := newNonce()
	me.Commit = hex.EncodeToString(Commitment(me.NodeID, myDER, nonce))
	hc, err := n.handshakeClient(e)
	if err != nil {
		return Route{}, err
	}
	defer hc.close()
	var reply Hello
	certs, err := hc.post(ctx, "/v1/interconn/net/hello", me, &reply)
	if err != nil {
		return Route{}, err
	}
	peer, err := n.checkReply(e, reply, certs)
	if err != nil {
		return Route{}, err
	}
	hc.trust(peer.root)
	if _, err := hc.post(ctx, "/v1/interconn/net/reveal", Reveal{NodeID: me.NodeID, Target: id, Nonce: hex.EncodeToString(nonce)}, nil); err != nil {
		return Route{}, err
	}
	code := AuthCode(me.NodeID, id, myDER, peer.der, nonce, peer.nonce)
	saved, err := n.routes.update(ctx, id, func(cur *Route) (Route, error) { return handshaken(cur, id, reply, peer.root, code) })
	if err != nil {
		return Route{}, err
	}
	n.outbox.kick()
	return saved.view(), nil
}

// weavable returns the route to id if our operator may weave it now.
func (n *Network) weavable(id string) (*entry, error) {
	e, ok := n.routes.get(id)
	switch {
	case !ok:
		return nil, ptp.Errorf(ptp.NotFound, "no route to node %s: add it with net/refresh first", id)
	case e.Disabled:
		return nil, ptp.Errorf(ptp.PeerDisabled, "partner %s is disabled", id)
	case e.Address == "":
		return nil, ptp.Errorf(ptp.BadAddress, "route to node %s has no address", id)
	case !isMesh(e.Dialect):
		return nil, errWeaveDialect(id, e.Dialect)
	}
	return e, nil
}

// handshaken is route cur after our operator's handshake with id: a pending
// route awaiting both confirmations, whatever candidate it held before.
func handshaken(cur *Route, id string, reply Hello, root, code string) (Route, error) {
	if cur == nil {
		return Route{}, ptp.Errorf(ptp.NotFound, "the route to node %s was removed during the handshake", id)
	}
	r := *cur
	if r.State == StateWoven && r.GuestRoot != root {
		return Route{}, ptp.Errorf(ptp.CertificateError, "partner %s now shows a root other than the one woven: remove the route to weave anew", id)
	}
	if r.InstID != "" && reply.InstID != "" && r.InstID != reply.InstID {
		return Route{}, ptp.Errorf(ptp.NotPermitted, "node %s answers as institution %q but this route names %q", id, reply.InstID, r.InstID)
	}
	fill(&r.InstID, reply.InstID)
	fill(&r.InstName, reply.InstName)
	r.GuestRoot, r.Code, r.State = root, code, StatePending
	r.Acked, r.PartnerAcked, r.FromHello, r.PendingUntil, r.Handshake = false, false, false, time.Time{}, nil
	r.Awaiting = r.awaiting()
	return r, nil
}

// peerRoot is what a checked answer told of the partner.
type peerRoot struct {
	root  string // canonical PEM
	der   []byte
	nonce []byte
}

// checkReply checks the partner's answer to our hello and the certificates
// it served against route e. Nothing in the answer is trusted but its root
// (once the serving certificate proves it) and its nonce.
func (n *Network) checkReply(e *entry, reply Hello, certs []*x509.Certificate) (peerRoot, error) {
	id := e.NodeID
	if reply.NodeID != id {
		return peerRoot{}, ptp.Errorf(ptp.BadAddress, "%s answers as node %.130q, not %s", e.Address, reply.NodeID, id)
	}
	if err := checkInst(reply.InstID, reply.InstName); err != nil {
		return peerRoot{}, err
	}
	if e.InstID != "" && reply.InstID != "" && reply.InstID != e.InstID {
		return peerRoot{}, ptp.Errorf(ptp.NotPermitted, "node %s answers as institution %q but this route names %q: not woven", id, reply.InstID, e.InstID)
	}
	root, der, err := canonicalRoot(reply.RootCrt)
	if err != nil {
		return peerRoot{}, ptp.Errorf(ptp.CertificateError, "partner %s sent a bad root: %v", id, err)
	}
	if e.State == StateWoven && e.GuestRoot != root {
		return peerRoot{}, ptp.Errorf(ptp.CertificateError, "partner %s now shows a root other than the one woven: remove the route to weave anew", id)
	}
	if err := verifyChain(newEntry(Route{NodeID: id, GuestRoot: root}, 0), certs, x509.ExtKeyUsageServerAuth); err != nil {
		return peerRoot{}, err
	}
	nonce, err := decodeNonce("nonce", reply.Nonce)
	if err != nil {
		return peerRoot{}, ptp.Errorf(ptp.Incompatible, "partner %s answered the hello without a valid nonce (an older handshake?): %v", id, err)
	}
	return peerRoot{root: root, der: der, nonce: nonce}, nil
}

// refuse is the one answer to a handshake that an existing route, or its
// absence, refuses: the same code and message whatever the reason, so that
// a stranger learns nothing of this node's partners. The reason goes to the
// node's log.
func (n *Network) refuse(c *Conn, id, why string) error {
	n.log.Warn("handshake refused", "node", id, "from", c.RemoteIP(), "why", why)
	return ptp.Errorf(ptp.NotPermitted, "handshake refused: ask this node's operator")
}

// AckRequest is the body of POST /v1/interconn/net/ack.
type AckRequest struct {
	NodeID string `json:"node_id"`
	InstID string `json:"inst_id,omitempty"`
	Code   string `json:"code"` // the code the partner's operator read out
	// For a partner without the weave handshake (dialect legacy or
	// kuscia), instead of a code: Trust "plaintext" confirms a plaintext
	// route, its partner known by its source addresses; GuestRoot gives
	// the partner's root CA.
	Trust     string `json:"trust,omitempty"`
	GuestRoot string `json:"guest_root,omitempty"`
}

// Ack records that our operator compared the handshake's code with the
// partner's and found them equal, and tells the partner. The route is
// woven once the partner's confirmation is here too.
func (n *Network) Ack(ctx context.Context, req AckRequest) (Route, error) {
	if req.Trust != "" || req.GuestRoot != "" {
		return n.trustAck(ctx, req)
	}
	if req.Code == "" {
		return Route{}, ptp.Errorf(ptp.CertificateError, "ack needs the code: compare the codes both nodes show out of band, then ack with the one the operator of %s reads out", req.NodeID)
	}
	_, err := n.routes.update(ctx, req.NodeID, func(cur *Route) (Route, error) { return n.acked(cur, req) })
	if err != nil {
		return Route{}, err
	}
	n.outbox.kick()
	if err := n.confirm(ctx, req.NodeID); err != nil {
		n.log.Warn("partner not told of the ack; ack again once it is reachable", "node", req.NodeID, "err", err)
	}
	return n.Get(req.NodeID)
}

// acked is route cur after our operator's ack req.
func (n *Network) acked(cur *Route, req AckRequest) (Route, error) {
	if cur == nil {
		return Route{}, ptp.Errorf(ptp.NotFound, "no route to node %s", req.NodeID)
	}
	r := *cur
	switch {
	case r.lapsed(time.Now()):
		return Route{}, ptp.Errorf(ptp.NetworkExpired, "the handshake with %s lapsed unacked: weave again", req.NodeID)
	case r.State != StatePending && r.State != StateWoven, r.Code == "":
		return Route{}, ptp.Errorf(ptp.BadRequest, "node %s has no handshake to ack here (state %s)", req.NodeID, r.State)
	case !sameCode(req.Code, r.Code):
		return Route{}, ptp.Errorf(ptp.CertificateError, "authorisation code %.40q does not match this handshake's: compare the codes out of band; do not ack (someone may sit between the nodes)", req.Code)
	case req.InstID != "" && r.InstID != "" && req.InstID != r.InstID:
		return Route{}, ptp.Errorf(ptp.BadRequest, "node %s belongs to institution %q, not %q", req.NodeID, r.InstID, req.InstID)
	}
	set(&r.InstID, req.InstID)
	if h, taken := n.routes.instHolder(r.InstID, r.NodeID); r.InstID != "" && taken {
		return Route{}, ptp.Errorf(ptp.NotPermitted, "institution %q is already node %s's: one institution, one partner node (remove that route first)", r.InstID, h.NodeID)
	}
	r.Acked, r.FromHello = true, false
	r.settle()
	return r, nil
}

// settle makes a pending route woven once both sides have confirmed.
func (r *Route) settle() {
	if r.State == StatePending && r.Acked && r.PartnerAcked {
		r.State, r.PendingUntil = StateWoven, time.Time{}
	}
	r.Awaiting = r.awaiting()
}

// confirm tells the partner, over mTLS, that our operator acked the
// handshake with its code.
func (n *Network) confirm(ctx context.Context, id string) error {
	e, ok := n.routes.get(id)
	if !ok || e.Address == "" {
		return fmt.Errorf("no address for %s", id)
	}
	hc, err := n.handshakeClient(e)
	if err != nil {
		return err
	}
	defer hc.close()
	hc.trust(e.GuestRoot)
	_, err = hc.post(ctx, "/v1/interconn/net/confirm", Confirmation{NodeID: n.ident.NodeID(), Code: e.Code}, nil)
	return err
}

// Confirmed handles a partner's confirmation, arriving on connection c: the
// partner's operator acked our handshake with code cf.Code.
func (n *Network) Confirmed(ctx context.Context, c *Conn, cf Confirmation) error {
	if !c.HasCert() {
		return ptp.Errorf(ptp.CertificateError, "a confirmation must come over mTLS")
	}
	e, err := n.certRoute(c.certs[0])
	if err != nil {
		return err
	}
	if e.Disabled {
		return ptp.Errorf(ptp.PeerDisabled, "this node has disabled %s", e.NodeID)
	}
	if err := verifyChain(e, c.certs, x509.ExtKeyUsageClientAuth); err != nil {
		return err
	}
	if cf.NodeID != "" && cf.NodeID != e.NodeID {
		return ptp.Errorf(ptp.Unauthorized, "confirmation names node %.130q, not %s whose certificate was presented", cf.NodeID, e.NodeID)
	}
	echo := false
	_, err = n.routes.update(ctx, e.NodeID, func(cur *Route) (Route, error) {
		r, changed, err := n.partnerAcked(cur, e, cf.Code)
		echo = changed && r.Acked
		return r, err
	})
	if err != nil {
		return err
	}
	n.outbox.kick()
	if echo {
		// We acked before the partner could hear of it: say so again.
		if err := n.confirm(ctx, e.NodeID); err != nil {
			n.log.Warn("partner not told of our earlier ack; ack again", "node", e.NodeID, "err", err)
		}
	}
	return nil
}

// partnerAcked is route cur after the partner's confirmation with code;
// changed says whether it was news. e is the route the caller's
// certificate was checked against: the route must still hold that root.
func (n *Network) partnerAcked(cur *Route, e *entry, code string) (Route, bool, error) {
	switch {
	case cur == nil || cur.GuestRoot != e.GuestRoot:
		return Route{}, false, ptp.Errorf(ptp.NotPermitted, "the route to %s changed: weave again", e.NodeID)
	case cur.State != StatePending && cur.State != StateWoven, cur.Code == "", cur.lapsed(time.Now()):
		return Route{}, false, ptp.Errorf(ptp.NotPermitted, "this node has no handshake with %s awaiting a confirmation", e.NodeID)
	case !sameCode(code, cur.Code):
		n.log.Warn("partner confirmed another code: the handshake was tampered with", "node", e.NodeID)
		return Route{}, false, ptp.Errorf(ptp.CertificateError, "the code you confirmed is not the one this node shows: the operators must compare codes out of band; remove the route and weave again")
	}
	r := *cur
	if r.PartnerAcked {
		return r, false, nil
	}
	r.PartnerAcked = true
	r.settle()
	return r, true, nil
}
