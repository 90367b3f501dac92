package network

import (
	"context"
	"time"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/ptp"
)

// RouteRequest is the body of POST /v1/interconn/net/refresh. Absent fields
// leave a known route's values as they are.
type RouteRequest struct {
	NodeID         string     `json:"node_id"`
	InstID         string     `json:"inst_id"`
	InstName       string     `json:"inst_name,omitempty"`
	Address        string     `json:"address"`
	GuestRoot      string     `json:"guest_root,omitempty"` // trust the partner's root without a handshake
	GuestCrt       string     `json:"guest_crt,omitempty"`  // or pin its exact certificate
	AllowPlaintext *bool      `json:"allow_plaintext,omitempty"`
	PlaintextFrom  *[]string  `json:"plaintext_from,omitempty"` // source networks of a plaintext partner
	Outbox         *bool      `json:"outbox,omitempty"`
	Codec          *string    `json:"codec,omitempty"`   // codec plugin for payloads to the partner; "" for none
	Dialect        *string    `json:"dialect,omitempty"` // mesh (the default), legacy or kuscia
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// Refresh adds or updates the route to a partner. A route given the
// partner's root (or pinned certificate) is woven at once, for partners
// that do not run the handshake.
func (n *Network) Refresh(ctx context.Context, req RouteRequest) (Route, error) {
	if err := identity.CheckID("node_id", req.NodeID); err != nil {
		return Route{}, err
	}
	if req.InstID != "" {
		if err := identity.CheckID("inst_id", req.InstID); err != nil {
			return Route{}, err
		}
	}
	if req.NodeID == n.ident.NodeID() {
		return Route{}, ptp.Errorf(ptp.BadRequest, "node %s is this node, not a partner", req.NodeID)
	}
	r := Route{NodeID: req.NodeID, State: StateNew}
	if e, ok := n.routes.get(req.NodeID); ok {
		r = e.Route
	}
	set(&r.InstID, req.InstID)
	set(&r.InstName, req.InstName)
	set(&r.Address, req.Address)
	if req.AllowPlaintext != nil {
		r.AllowPlaintext = *req.AllowPlaintext
	}
	if req.PlaintextFrom != nil {
		if _, err := ParseNets(*req.PlaintextFrom); err != nil {
			return Route{}, ptp.Errorf(ptp.BadRequest, "plaintext_from: %v", err)
		}
		r.PlaintextFrom = *req.PlaintextFrom
	}
	if req.Outbox != nil {
		r.Outbox = *req.Outbox
	}
	if req.Codec != nil {
		r.Codec = *req.Codec
	}
	if req.ExpiresAt != nil {
		r.ExpiresAt = *req.ExpiresAt
	}
	if req.Dialect != nil {
		if err := CheckDialect(*req.Dialect); err != nil {
			return Route{}, err
		}
		r.Dialect = ptp.Dialect(*req.Dialect)
	}
	if err := n.checkAddress(r); err != nil {
		return Route{}, err
	}
	untrust(&r)
	if req.GuestRoot != "" {
		root, _, err := canonicalRoot(req.GuestRoot)
		if err != nil {
			return Route{}, ptp.Errorf(ptp.CertificateError, "guest_root: %v", err)
		}
		r.GuestRoot = root
		trust(&r)
	}
	if req.GuestCrt != "" {
		if _, err := parseCert(req.GuestCrt); err != nil {
			return Route{}, ptp.Errorf(ptp.CertificateError, "guest_crt: %v", err)
		}
		r.GuestCrt = req.GuestCrt
		trust(&r)
	}
	r.FromHello = false // our operator's route now
	return n.save(ctx, r)
}

// trust makes r woven on our operator's word, ending any handshake.
func trust(r *Route) {
	r.State, r.Awaiting, r.Code, r.Handshake = StateWoven, "", "", nil
	r.Acked, r.PartnerAcked, r.PendingUntil = false, false, time.Time{}
}

// fill sets *dst to v if *dst is empty: what a partner says never
// overwrites what our operator gave.
func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// checkAddress parses r's address, if any; plaintext needs the opt-in.
func (n *Network) checkAddress(r Route) error {
	if r.Address == "" {
		return nil
	}
	a, err := ParseAddress(r.Address)
	if err != nil {
		return err
	}
	if !a.TLS && !r.AllowPlaintext {
		return ptp.Errorf(ptp.BadAddress, "address %q is plaintext: set allow_plaintext for this partner to permit it", r.Address)
	}
	return nil
}

func (n *Network) save(ctx context.Context, r Route) (Route, error) {
	r.Updated = time.Now().UTC()
	e, err := n.routes.put(ctx, r)
	if err != nil {
		return Route{}, err
	}
	n.outbox.kick()
	return e.view(), nil
}

// view is the route as shown to operators: its effective state.
// It never holds the handshake's secret state.
func (e *entry) view() Route {
	r := e.Route
	r.Handshake = nil
	r.State = r.Effective(time.Now())
	r.Awaiting = r.awaiting()
	return r
}

// Get returns the route to node id.
func (n *Network) Get(id string) (Route, error) {
	e, ok := n.routes.get(id)
	if !ok {
		return Route{}, ptp.Errorf(ptp.NotFound, "no route to node %s", id)
	}
	return e.view(), nil
}

// List returns every route with its effective state.
func (n *Network) List() []Route {
	es := n.routes.list()
	out := make([]Route, len(es))
	for i, e := range es {
		out[i] = e.view()
	}
	return out
}

// Remove forgets the route to node id. Messages parked for it stay parked
// until it is added again or they expire.
func (n *Network) Remove(ctx context.Context, id string) error {
	if _, ok := n.routes.get(id); !ok {
		return ptp.Errorf(ptp.NotFound, "no route to node %s", id)
	}
	if err := n.routes.remove(ctx, id); err != nil {
		return err
	}
	n.links.drop(id)
	return nil
}

// SetDisabled switches the route to node id off or on again.
func (n *Network) SetDisabled(ctx context.Context, id string, disabled bool) (Route, error) {
	e, ok := n.routes.get(id)
	if !ok {
		return Route{}, ptp.Errorf(ptp.NotFound, "no route to node %s", id)
	}
	r := e.Route
	r.Disabled = disabled
	return n.save(ctx, r)
}
