package network

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// State is where a partner route stands.
type State string

// Route states. New, Pending and Woven are stored; Disabled and Expired are
// what a stored route shows while switched off or past its end.
const (
	New      State = "new"      // known address, not woven yet
	Pending  State = "pending"  // handshake made; one side has still to ack
	Woven    State = "woven"    // partner roots exchanged: traffic flows
	Disabled State = "disabled" // switched off by the operator
	Expired  State = "expired"  // past its expiry time
)

// Who a pending route waits for.
const (
	AwaitingUs      = "us"      // the partner asked; our operator has to ack
	AwaitingPartner = "partner" // we asked; the partner's operator has to ack
)

// Route is what this node knows of one partner node. Only public material
// is kept: the partner's root certificate, never a key.
type Route struct {
	NodeID         string    `json:"node_id"`
	InstID         string    `json:"inst_id,omitempty"`
	InstName       string    `json:"inst_name,omitempty"`
	Address        string    `json:"address,omitempty"`
	State          State     `json:"state"`
	Awaiting       string    `json:"awaiting,omitempty"`
	Code           string    `json:"code,omitempty"` // authorisation code of the handshake
	GuestRoot      string    `json:"guest_root,omitempty"`
	GuestCrt       string    `json:"guest_crt,omitempty"`
	AllowPlaintext bool      `json:"allow_plaintext,omitempty"`
	Outbox         bool      `json:"outbox,omitempty"`
	Codec          string    `json:"codec,omitempty"` // codec plugin that encodes payloads to this partner
	Disabled       bool      `json:"disabled,omitempty"`
	ExpiresAt      time.Time `json:"expires_at,omitzero"`
	Updated        time.Time `json:"updated,omitzero"`
}

// Effective is the state the route shows now: disabled and expired win over
// the stored state.
func (r Route) Effective(now time.Time) State {
	switch {
	case r.Disabled:
		return Disabled
	case !r.ExpiresAt.IsZero() && now.After(r.ExpiresAt):
		return Expired
	}
	return r.State
}

// usable says whether traffic may flow on the route now, as a PTP error.
func (r Route) usable(now time.Time) error {
	switch r.Effective(now) {
	case Woven:
		return nil
	case Disabled:
		return ptp.Errorf(ptp.PeerDisabled, "partner %s is disabled", r.NodeID)
	case Expired:
		return ptp.Errorf(ptp.NetworkExpired, "partner %s expired at %s", r.NodeID, r.ExpiresAt.Format(time.RFC3339))
	}
	return ptp.Errorf(ptp.NotWoven, "partner %s is %s, not woven", r.NodeID, r.State)
}

// Address is a parsed partner address: one node, reached at one or more
// replicas that share its identity.
type Address struct {
	GRPC   bool     // PrivateTransferProtocol over gRPC; else the HTTP invoke form
	TLS    bool     // mTLS; false only for opted-in plaintext partners
	Host   string   // host:port of the first replica
	Hosts  []string // host:port of every replica, in the order given
	Scheme string
}

// schemes is the one table of partner address forms.
var schemes = map[string]Address{
	"":      {GRPC: true, TLS: true},
	"grpcs": {GRPC: true, TLS: true},
	"https": {GRPC: false, TLS: true},
	"grpc":  {GRPC: true, TLS: false},
	"h2c":   {GRPC: true, TLS: false},
	"http":  {GRPC: false, TLS: false},
}

// ParseAddress reads host:port with an optional scheme: grpcs:// (the
// default) or https:// over mTLS; grpc://, h2c:// or http:// in plaintext.
// A node with several replicas lists them all, separated by commas
// ("a:7304,b:7304,c:7304"), each with the same scheme if any; senders fail
// over between them.
func ParseAddress(s string) (Address, error) {
	var out Address
	for i, part := range strings.Split(s, ",") {
		a, err := parseOne(strings.TrimSpace(part))
		if err != nil {
			return Address{}, err
		}
		if i > 0 && (a.GRPC != out.GRPC || a.TLS != out.TLS) {
			return Address{}, ptp.Errorf(ptp.BadAddress, "address %q: every replica must use the same scheme", s)
		}
		if i == 0 {
			out = a
		}
		out.Hosts = append(out.Hosts, a.Host)
	}
	return out, nil
}

func parseOne(s string) (Address, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	a, known := schemes[strings.ToLower(scheme)]
	if !known {
		return Address{}, ptp.Errorf(ptp.BadAddress, "address %q: unknown scheme %q (want grpcs, https, grpc, h2c or http)", s, scheme)
	}
	rest = strings.TrimSuffix(rest, "/")
	if _, port, err := net.SplitHostPort(rest); err != nil || port == "" {
		return Address{}, ptp.Errorf(ptp.BadAddress, "address %q: want [scheme://]host:port", s)
	}
	a.Host, a.Scheme = rest, strings.ToLower(scheme)
	return a, nil
}

// parseRoot reads a PEM CA certificate.
func parseRoot(s string) (*x509.Certificate, error) {
	c, err := parseCert(s)
	if err != nil {
		return nil, err
	}
	if !c.IsCA {
		return nil, fmt.Errorf("%q is not a CA certificate", c.Subject.CommonName)
	}
	return c, nil
}

func parseCert(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// names are the node ids a certificate may stand for: its DNS names and
// common name.
func names(c *x509.Certificate) []string {
	return append(append([]string(nil), c.DNSNames...), c.Subject.CommonName)
}
