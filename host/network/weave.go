package network

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ppcmesh/mesh/host/node"
	"github.com/ppcmesh/mesh/host/ptp"
)

// The weave handshake, between this node (A) and a partner (B):
//
//  1. A's operator: net/refresh {node_id: B, address} then net/weave {node_id: B}.
//  2. A → B  POST /v1/interconn/net/hello  {A's ids, A's public root, A's address}
//     over TLS with A's certificate. B records A as pending (awaiting its
//     operator) and answers with its own ids and public root. A checks that
//     B's serving certificate chains to that root, and records B as pending
//     (awaiting B).
//  3. Both sides show the same authorisation code, derived from the two
//     roots; the operators compare it out of band, so a party in the middle,
//     which must substitute roots, is caught.
//  4. B's operator: net/ack {node_id: A, inst_id, code?}. B marks A woven
//     and calls A's POST /v1/interconn/net/confirm over mTLS; A marks B
//     woven. If that call cannot reach A, A's operator weaves again and
//     learns that B is woven.
//
// Only public certificates travel; private keys never leave their node.

// Hello is the handshake message both ways.
type Hello struct {
	NodeID   string `json:"node_id"`
	InstID   string `json:"inst_id,omitempty"`
	InstName string `json:"inst_name,omitempty"`
	RootCrt  string `json:"root_crt"`
	Address  string `json:"address,omitempty"`
	Target   string `json:"target_node_id,omitempty"` // whom the sender means to reach
	State    State  `json:"state,omitempty"`          // in a reply: the route as the replier sees it
	Code     string `json:"code,omitempty"`           // in a reply: the authorisation code
}

// maxPendingIn bounds routes created by partners' hellos and not yet acked,
// so that strangers cannot fill the route table.
const maxPendingIn = 256

// authCode derives the code both operators see from the two roots.
func authCode(a, b string) string {
	if a > b {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "\x00" + b))
	s := base32.StdEncoding.EncodeToString(sum[:])[:8]
	return s[:4] + "-" + s[4:]
}

// hello is what this node says of itself.
func (n *Network) hello(target string) (Hello, error) {
	id := n.ident.Current()
	if id.NodeID == "" {
		return Hello{}, ptp.Errorf(ptp.BadRequest, "this node has no identity yet: POST /v1/interconn/node/refresh first")
	}
	return Hello{NodeID: id.NodeID, InstID: id.InstID, InstName: id.InstName, RootCrt: string(id.Root.CertPEM),
		Address: n.cfg.Advertise, Target: target}, nil
}

// Weave runs the handshake with the partner at node id's route address.
func (n *Network) Weave(ctx context.Context, id string) (Route, error) {
	e, ok := n.routes.get(id)
	if !ok {
		return Route{}, ptp.Errorf(ptp.NotFound, "no route to node %s: add it with net/refresh first", id)
	}
	if e.Disabled {
		return Route{}, ptp.Errorf(ptp.PeerDisabled, "partner %s is disabled", id)
	}
	if e.Address == "" {
		return Route{}, ptp.Errorf(ptp.BadAddress, "route to node %s has no address", id)
	}
	me, err := n.hello(id)
	if err != nil {
		return Route{}, err
	}
	reply, peerCerts, err := n.sendHello(ctx, e, me)
	if err != nil {
		return Route{}, err
	}
	if reply.NodeID != id {
		return Route{}, ptp.Errorf(ptp.BadAddress, "%s answers as node %q, not %s", e.Address, reply.NodeID, id)
	}
	if _, err := parseRoot(reply.RootCrt); err != nil {
		return Route{}, ptp.Errorf(ptp.CertificateError, "partner %s sent a bad root: %v", id, err)
	}
	if e.GuestRoot != "" && e.GuestRoot != reply.RootCrt && e.State == Woven {
		return Route{}, ptp.Errorf(ptp.CertificateError, "partner %s now shows a root other than the one woven: remove the route to weave anew", id)
	}
	if peerCerts != nil {
		if err := verifyChain(newEntry(Route{NodeID: id, GuestRoot: reply.RootCrt}, 0), peerCerts, x509.ExtKeyUsageServerAuth); err != nil {
			return Route{}, err
		}
	}
	r := e.Route
	r.GuestRoot, r.Code = reply.RootCrt, authCode(me.RootCrt, reply.RootCrt)
	set(&r.InstID, reply.InstID)
	set(&r.InstName, reply.InstName)
	r.State, r.Awaiting = Pending, AwaitingPartner
	if reply.State == Woven {
		r.State, r.Awaiting = Woven, ""
	}
	return n.save(ctx, r)
}

// sendHello posts me to the partner and returns its answer and, over TLS,
// the certificates it served.
func (n *Network) sendHello(ctx context.Context, e *entry, me Hello) (Hello, []*x509.Certificate, error) {
	a, err := ParseAddress(e.Address)
	if err != nil {
		return Hello{}, nil, err
	}
	scheme := "http"
	tr := &http.Transport{ForceAttemptHTTP2: false, DialContext: newFailover(a.Hosts).dial}
	if a.TLS {
		scheme = "https"
		// The partner's root is what the handshake is for: its serving
		// certificate is checked against the root it sends, below.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return n.certificate() }}
	}
	defer tr.CloseIdleConnections()
	body, _ := json.Marshal(me)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+a.Host+"/v1/interconn/net/hello", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return Hello{}, nil, ptp.Errorf(ptp.NetworkUnreachable, "handshake with %s at %s: %v", e.NodeID, e.Address, err)
	}
	defer resp.Body.Close()
	var out struct {
		Code    ptp.Code `json:"code"`
		Message string   `json:"message"`
		Content Hello    `json:"content"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(data, &out); err != nil {
		return Hello{}, nil, ptp.Errorf(ptp.Incompatible, "handshake with %s: reply %d is not a Mesh handshake: %.200q", e.NodeID, resp.StatusCode, data)
	}
	if out.Code != ptp.OK {
		return Hello{}, nil, ptp.Errorf(out.Code, "partner %s refused the handshake: %s", e.NodeID, out.Message)
	}
	var certs []*x509.Certificate
	if resp.TLS != nil {
		certs = resp.TLS.PeerCertificates
	}
	return out.Content, certs, nil
}

// Greet answers a partner's hello, arriving on connection c.
func (n *Network) Greet(ctx context.Context, c *Conn, h Hello) (Hello, error) {
	me, err := n.hello("")
	if err != nil {
		return Hello{}, err
	}
	if h.Target != "" && h.Target != me.NodeID {
		return Hello{}, ptp.Errorf(ptp.BadAddress, "this is node %s, not %s", me.NodeID, h.Target)
	}
	if err := node.CheckID("node_id", h.NodeID); err != nil {
		return Hello{}, err
	}
	if h.NodeID == me.NodeID {
		return Hello{}, ptp.Errorf(ptp.BadRequest, "node %s is this node", h.NodeID)
	}
	if h.InstID != "" {
		if err := node.CheckID("inst_id", h.InstID); err != nil {
			return Hello{}, err
		}
	}
	if _, err := parseRoot(h.RootCrt); err != nil {
		return Hello{}, ptp.Errorf(ptp.CertificateError, "root_crt: %v", err)
	}
	if c.TLS {
		// Over TLS the caller proves it holds a key its root certified.
		if err := verifyChain(newEntry(Route{NodeID: h.NodeID, GuestRoot: h.RootCrt}, 0), c.certs, x509.ExtKeyUsageClientAuth); err != nil {
			return Hello{}, err
		}
	}
	r, err := n.greeted(h, c.TLS)
	if err != nil {
		return Hello{}, err
	}
	saved, err := n.save(ctx, r)
	if err != nil {
		return Hello{}, err
	}
	me.State, me.Code = saved.State, saved.Code
	return me, nil
}

// greeted is the route after hello h; proven says the caller showed a
// certificate from the root it sent.
func (n *Network) greeted(h Hello, proven bool) (Route, error) {
	e, ok := n.routes.get(h.NodeID)
	code := authCode(string(n.ident.Current().Root.CertPEM), h.RootCrt)
	if !ok {
		pending := 0
		for _, e := range n.routes.list() {
			if e.State == Pending && e.Awaiting == AwaitingUs {
				pending++
			}
		}
		if pending >= maxPendingIn {
			return Route{}, ptp.Errorf(ptp.NotPermitted, "too many handshakes await an operator here; try later")
		}
		return Route{NodeID: h.NodeID, InstID: h.InstID, InstName: h.InstName, Address: h.Address,
			GuestRoot: h.RootCrt, State: Pending, Awaiting: AwaitingUs, Code: code}, nil
	}
	r := e.Route
	switch {
	case r.Disabled:
		return Route{}, ptp.Errorf(ptp.PeerDisabled, "this node has disabled %s", h.NodeID)
	case r.State == Woven && r.GuestRoot == h.RootCrt:
		if r.Address == "" && proven {
			r.Address = h.Address // learnt late: the partner now advertises one
		}
		return r, nil // woven already: say so
	case r.State == Woven:
		return Route{}, ptp.Errorf(ptp.CertificateError, "node %s is woven here with another root: the operator must remove the route first", h.NodeID)
	case r.State == Pending && r.Awaiting == AwaitingPartner && r.GuestRoot == h.RootCrt:
		r.State, r.Awaiting = Woven, "" // both operators asked: done
		return r, nil
	}
	set(&r.InstID, h.InstID)
	set(&r.InstName, h.InstName)
	set(&r.Address, h.Address)
	r.GuestRoot, r.State, r.Awaiting, r.Code = h.RootCrt, Pending, AwaitingUs, code
	return r, nil
}

// AckRequest is the body of POST /v1/interconn/net/ack.
type AckRequest struct {
	NodeID string `json:"node_id"`
	InstID string `json:"inst_id"`
	Code   string `json:"code,omitempty"` // when given, must match the handshake's code
}

// Ack accepts a partner's pending handshake and tells the partner.
func (n *Network) Ack(ctx context.Context, req AckRequest) (Route, error) {
	e, ok := n.routes.get(req.NodeID)
	if !ok {
		return Route{}, ptp.Errorf(ptp.NotFound, "no route to node %s", req.NodeID)
	}
	r := e.Route
	if r.State == Woven {
		return e.view(), nil
	}
	if r.State != Pending || r.Awaiting != AwaitingUs {
		return Route{}, ptp.Errorf(ptp.BadRequest, "node %s has no handshake awaiting an ack here (state %s)", req.NodeID, r.State)
	}
	if req.InstID != "" && r.InstID != "" && req.InstID != r.InstID {
		return Route{}, ptp.Errorf(ptp.BadRequest, "node %s belongs to institution %q, not %q", req.NodeID, r.InstID, req.InstID)
	}
	if req.Code != "" && req.Code != r.Code {
		return Route{}, ptp.Errorf(ptp.CertificateError, "authorisation code %q does not match the handshake's: do not ack", req.Code)
	}
	set(&r.InstID, req.InstID)
	r.State, r.Awaiting = Woven, ""
	saved, err := n.save(ctx, r)
	if err != nil {
		return Route{}, err
	}
	if err := n.confirm(ctx, req.NodeID); err != nil {
		n.log.Warn("partner not told of the ack; it learns on its next weave", "node", req.NodeID, "err", err)
	}
	return saved, nil
}

// confirm tells the partner, over mTLS, that its handshake was acked.
func (n *Network) confirm(ctx context.Context, id string) error {
	e, ok := n.routes.get(id)
	if !ok || e.Address == "" {
		return fmt.Errorf("no address for %s", id)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	l, err := n.links.get(e)
	if err != nil {
		return err
	}
	return l.postJSON(ctx, "/v1/interconn/net/confirm", map[string]string{"node_id": n.ident.NodeID()})
}

// Confirmed handles a partner's confirmation, arriving on connection c: the
// partner acked our handshake.
func (n *Network) Confirmed(ctx context.Context, c *Conn) error {
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
	if e.State == Woven {
		return nil
	}
	if e.State != Pending || e.Awaiting != AwaitingPartner {
		return ptp.Errorf(ptp.NotPermitted, "this node has not asked to weave with %s", e.NodeID)
	}
	r := e.Route
	r.State, r.Awaiting = Woven, ""
	_, err = n.save(ctx, r)
	return err
}
