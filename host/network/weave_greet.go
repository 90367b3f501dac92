package network

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/ptp"
)

// maxInstName bounds an institution name, in runes.
const maxInstName = 256

// Greet answers a partner's hello, arriving on connection c: the first
// round of the handshake, where this node is the responder.
func (n *Network) Greet(ctx context.Context, c *Conn, h Hello) (Hello, error) {
	if err := n.admitHandshake(c); err != nil {
		return Hello{}, err
	}
	me, _, err := n.hello("")
	if err != nil {
		return Hello{}, err
	}
	root, commit, err := checkHello(h, me.NodeID)
	if err != nil {
		return Hello{}, err
	}
	// The caller proves it holds a key its root certified for its node id.
	if err := verifyChain(newEntry(Route{NodeID: h.NodeID, GuestRoot: root}, 0), c.certs, x509.ExtKeyUsageClientAuth); err != nil {
		return Hello{}, err
	}
	nonce := newNonce()
	n.sweep(ctx)
	_, err = n.routes.update(ctx, h.NodeID, func(cur *Route) (Route, error) {
		return n.greeted(c, cur, h, root, &Handshake{Commit: commit, Nonce: nonce})
	})
	if err != nil {
		return Hello{}, err
	}
	me.Nonce = hex.EncodeToString(nonce)
	return me, nil
}

// admitHandshake lets a handshake call through if it comes over TLS with a
// client certificate and within the hello rate limits.
func (n *Network) admitHandshake(c *Conn) error {
	switch {
	case c == nil || !c.TLS:
		return ptp.Errorf(ptp.CertificateError, "the weave handshake must come over TLS with the node's certificate: weave with a current Mesh (it uses TLS whatever the address scheme)")
	case !c.HasCert():
		return ptp.Errorf(ptp.CertificateError, "the weave handshake needs the calling node's client certificate, chained to the root it sends")
	case !n.hellos.allow(c.RemoteIP(), time.Now()):
		return ptp.Errorf(ptp.NotPermitted, "too many handshakes from %s: try again later", c.RemoteIP())
	}
	return nil
}

// checkHello validates every field of hello h to node self and returns its
// canonical root and commitment.
func checkHello(h Hello, self string) (string, []byte, error) {
	if err := identity.CheckID("node_id", h.NodeID); err != nil {
		return "", nil, err
	}
	if h.Target != "" && h.Target != self {
		return "", nil, ptp.Errorf(ptp.BadAddress, "this is node %s, not %.130q", self, h.Target)
	}
	if h.NodeID == self {
		return "", nil, ptp.Errorf(ptp.BadRequest, "node %s is this node", h.NodeID)
	}
	if err := checkInst(h.InstID, h.InstName); err != nil {
		return "", nil, err
	}
	if err := checkHelloAddress(h.Address); err != nil {
		return "", nil, err
	}
	root, _, err := canonicalRoot(h.RootCrt)
	if err != nil {
		return "", nil, ptp.Errorf(ptp.CertificateError, "root_crt: %v", err)
	}
	commit, err := decodeNonce("commit", h.Commit)
	if err != nil {
		return "", nil, ptp.Errorf(ptp.Incompatible, "hello without a valid commitment (an older handshake?): %v", err)
	}
	return root, commit, nil
}

// checkInst validates an institution id and name a partner sent.
func checkInst(id, name string) error {
	if id != "" {
		if err := identity.CheckID("inst_id", id); err != nil {
			return err
		}
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxInstName {
		return ptp.Errorf(ptp.BadRequest, "inst_name: want valid UTF-8 of at most %d characters", maxInstName)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ptp.Errorf(ptp.BadRequest, "inst_name %.80q: only printable characters are allowed", name)
		}
	}
	return nil
}

// checkHelloAddress validates the address a partner advertises: it may be
// empty, and otherwise must be a TLS address.
func checkHelloAddress(s string) error {
	if s == "" {
		return nil
	}
	a, err := ParseAddress(s)
	if err != nil {
		return err
	}
	if !a.TLS {
		return ptp.Errorf(ptp.BadAddress, "address %q is plaintext: a partner's advertised address must use TLS (an operator may opt a route in to plaintext)", s)
	}
	return nil
}

// greeted is route cur after a proven hello h with root and handshake hs.
// A hello may create a route, give a candidate root to a route our operator
// made without one, or restart its own pending handshake; it never changes
// an address, root, institution or state otherwise.
func (n *Network) greeted(c *Conn, cur *Route, h Hello, root string, hs *Handshake) (Route, error) {
	now := time.Now()
	var r Route
	switch {
	case cur == nil || cur.FromHello && cur.lapsed(now):
		if n.pendingIn(now) >= maxPendingIn {
			return Route{}, ptp.Errorf(ptp.NotPermitted, "too many handshakes await an operator here: try later")
		}
		r = Route{NodeID: h.NodeID, InstID: h.InstID, InstName: h.InstName, Address: h.Address, FromHello: true}
	case cur.Disabled:
		return Route{}, n.refuse(c, h.NodeID, "the route is disabled")
	case cur.State == StateNew && cur.GuestRoot == "" && cur.GuestCrt == "", cur.lapsed(now):
		r = operatorRoute(*cur)
		fill(&r.Address, h.Address) // only when our operator gave none
	case cur.State == StatePending && !cur.PendingUntil.IsZero() && cur.GuestRoot == root:
		r = *cur // the same partner starts its handshake again
	default:
		return Route{}, n.refuse(c, h.NodeID, "the route is "+string(cur.State)+" with another root or by our own weave")
	}
	if r.InstID != "" && h.InstID != "" && r.InstID != h.InstID {
		return Route{}, n.refuse(c, h.NodeID, "the hello names institution "+h.InstID+", the route "+r.InstID)
	}
	fill(&r.InstID, h.InstID)
	fill(&r.InstName, h.InstName)
	r.GuestRoot, r.State, r.Code, r.Handshake = root, StatePending, "", hs
	r.Acked, r.PartnerAcked, r.PendingUntil = false, false, now.Add(n.cfg.PendingTTL)
	r.Awaiting = r.awaiting()
	return r, nil
}

// operatorRoute is an operator's route with any lapsed candidate dropped.
func operatorRoute(r Route) Route {
	if r.lapsed(time.Now()) {
		r.State, r.GuestRoot, r.Code, r.Handshake = StateNew, "", "", nil
		r.Acked, r.PartnerAcked, r.PendingUntil, r.Awaiting = false, false, time.Time{}, ""
	}
	return r
}

// pendingIn counts the routes partners' hellos created that still await
// an operator.
func (n *Network) pendingIn(now time.Time) int {
	count := 0
	for _, e := range n.routes.list() {
		if e.FromHello && e.State == StatePending && !e.lapsed(now) {
			count++
		}
	}
	return count
}

// sweep forgets the routes partners' hellos created whose handshake lapsed.
func (n *Network) sweep(ctx context.Context) {
	now := time.Now()
	for _, e := range n.routes.list() {
		if e.FromHello && e.lapsed(now) {
			if err := n.routes.remove(ctx, e.NodeID); err != nil {
				n.log.Warn("lapsed handshake not swept", "node", e.NodeID, "err", err)
			}
		}
	}
}

// Revealed handles the second round of a partner's handshake, arriving on
// connection c: the nonce its hello committed to. Both sides can show the
// code after it.
func (n *Network) Revealed(ctx context.Context, c *Conn, rv Reveal) error {
	if err := n.admitHandshake(c); err != nil {
		return err
	}
	if err := identity.CheckID("node_id", rv.NodeID); err != nil {
		return err
	}
	if self := n.ident.NodeID(); rv.Target != "" && rv.Target != self {
		return ptp.Errorf(ptp.BadAddress, "this is node %s, not %.130q", self, rv.Target)
	}
	nonce, err := decodeNonce("nonce", rv.Nonce)
	if err != nil {
		return ptp.Errorf(ptp.BadRequest, "%v", err)
	}
	_, myDER, err := n.hello("")
	if err != nil {
		return err
	}
	_, err = n.routes.update(ctx, rv.NodeID, func(cur *Route) (Route, error) {
		return n.revealed(c, cur, rv.NodeID, nonce, myDER)
	})
	return err
}

// revealed is route cur after the initiator revealed nonce; myDER is our
// root.
func (n *Network) revealed(c *Conn, cur *Route, id string, nonce, myDER []byte) (Route, error) {
	if cur == nil || cur.Handshake == nil || cur.State != StatePending || cur.lapsed(time.Now()) {
		return Route{}, n.refuse(c, id, "no handshake awaits a reveal")
	}
	// Only the holder of the key the hello proved may reveal.
	e := newEntry(*cur, 0)
	if err := verifyChain(e, c.certs, x509.ExtKeyUsageClientAuth); err != nil {
		return Route{}, n.refuse(c, id, "the reveal comes with another certificate: "+err.Error())
	}
	_, peerDER, err := canonicalRoot(cur.GuestRoot)
	if err != nil {
		return Route{}, err
	}
	if !bytes.Equal(Commitment(id, peerDER, nonce), cur.Handshake.Commit) {
		return Route{}, ptp.Errorf(ptp.CertificateError, "the revealed nonce does not match the hello's commitment: weave again")
	}
	r := *cur
	r.Code = AuthCode(id, n.ident.NodeID(), peerDER, myDER, nonce, cur.Handshake.Nonce)
	r.Handshake = nil
	r.Awaiting = r.awaiting()
	return r, nil
}
