package network

import (
	"context"

	"github.com/ppcmesh/mesh/host/ptp"
)

// How our operator confirmed a partner that cannot run the weave handshake
// (Route.Trust).
const (
	// TrustPlaintext: a plaintext route whose partner is recognised only by
	// the source addresses it calls from (plaintext_from, else the IPs of
	// its address). Nothing authenticates its messages beyond that.
	TrustPlaintext = "plaintext"
	// TrustRoot: the operator gave the partner's root CA; calls are mTLS
	// both ways, as on a woven route.
	TrustRoot = "root"
)

// trustAck confirms, on our operator's word, a partner whose dialect has no
// weave handshake: net/ack {node_id, trust: "plaintext"} or
// {node_id, guest_root}.
func (n *Network) trustAck(ctx context.Context, req AckRequest) (Route, error) {
	_, err := n.routes.update(ctx, req.NodeID, func(cur *Route) (Route, error) { return n.trustedBy(cur, req) })
	if err != nil {
		return Route{}, err
	}
	n.outbox.kick()
	return n.Get(req.NodeID)
}

// trustedBy is route cur after our operator's trust confirmation req.
func (n *Network) trustedBy(cur *Route, req AckRequest) (Route, error) {
	if cur == nil {
		return Route{}, ptp.Errorf(ptp.NotFound, "no route to node %s: add it with net/refresh first", req.NodeID)
	}
	r := *cur
	switch {
	case isMesh(r.Dialect):
		return Route{}, ptp.Errorf(ptp.BadRequest, "partner %s speaks the mesh dialect: weave it and ack with the code (trust is for legacy and kuscia partners)", r.NodeID)
	case req.InstID != "" && r.InstID != "" && req.InstID != r.InstID:
		return Route{}, ptp.Errorf(ptp.BadRequest, "node %s belongs to institution %q, not %q", r.NodeID, r.InstID, req.InstID)
	}
	if err := confirmTrust(&r, req); err != nil {
		return Route{}, err
	}
	set(&r.InstID, req.InstID)
	if h, taken := n.routes.instHolder(r.InstID, r.NodeID); r.InstID != "" && taken {
		return Route{}, ptp.Errorf(ptp.NotPermitted, "institution %q is already node %s's: one institution, one partner node (remove that route first)", r.InstID, h.NodeID)
	}
	trust(&r)
	r.FromHello = false
	return r, nil
}

// confirmTrust records on r the trust req gives.
func confirmTrust(r *Route, req AckRequest) error {
	switch {
	case req.GuestRoot != "" && req.Trust != "" && req.Trust != TrustRoot:
		return ptp.Errorf(ptp.BadRequest, "give either trust %q or guest_root, not both", req.Trust)
	case req.GuestRoot != "":
		root, _, err := canonicalRoot(req.GuestRoot)
		if err != nil {
			return ptp.Errorf(ptp.CertificateError, "guest_root: %v", err)
		}
		r.GuestRoot, r.Trust = root, TrustRoot
		return nil
	case req.Trust != TrustPlaintext:
		return ptp.Errorf(ptp.BadRequest, "trust %.40q: want %q (or give the partner's root as guest_root)", req.Trust, TrustPlaintext)
	}
	if err := plaintextTrustable(*r); err != nil {
		return err
	}
	r.Trust = TrustPlaintext
	return nil
}

// plaintextTrustable says why route r cannot be trusted on plaintext, if it
// cannot: it needs a plaintext address, the opt-in, and source addresses
// that recognise the partner.
func plaintextTrustable(r Route) error {
	if r.Address == "" {
		return ptp.Errorf(ptp.BadAddress, "route to node %s has no address", r.NodeID)
	}
	a, err := ParseAddress(r.Address)
	switch {
	case err != nil:
		return err
	case a.TLS:
		return ptp.Errorf(ptp.BadRequest, "address %q of %s uses TLS: give the partner's root as guest_root instead", r.Address, r.NodeID)
	case !r.AllowPlaintext:
		return ptp.Errorf(ptp.BadAddress, "route to %s does not allow plaintext: set allow_plaintext first", r.NodeID)
	case len(plaintextSources(r)) == 0:
		return ptp.Errorf(ptp.BadRequest, "no source address would recognise %s (its address is a host name): set plaintext_from on its route", r.NodeID)
	}
	return nil
}

// untrust withdraws a plaintext trust confirmation that route r no longer
// fits (its address, opt-in or dialect changed): the route is new again
// until our operator confirms it anew.
func untrust(r *Route) {
	if r.Trust != TrustPlaintext || (!isMesh(r.Dialect) && plaintextTrustable(*r) == nil) {
		return
	}
	r.Trust, r.State = "", StateNew
}
