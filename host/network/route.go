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

// Route states. StateNew, StatePending and StateWoven are stored;
// StateDisabled and StateExpired are what a stored route shows while switched
// off or past its end.
const (
	StateNew      State = "new"      // known address, not woven yet
	StatePending  State = "pending"  // handshake made; one side has still to ack
	StateWoven    State = "woven"    // partner roots exchanged: traffic flows
	StateDisabled State = "disabled" // switched off by the operator
	StateExpired  State = "expired"  // past its expiry time
)

// Who a pending route waits for: a route is woven once both operators have
// confirmed the authorisation code.
const (
	AwaitingUs      = "us"      // our operator has to ack with the code
	AwaitingPartner = "partner" // the partner's confirmation has to arrive
	AwaitingBoth    = "both"    // neither side has confirmed yet
	AwaitingReveal  = "reveal"  // the partner has yet to reveal its nonce: no code yet
)

// Route is what this node knows of one partner node. Only public material
// is kept: the partner's root certificate, never a key.
type Route struct {
	NodeID         string      `json:"node_id"`
	InstID         string      `json:"inst_id,omitempty"`
	InstName       string      `json:"inst_name,omitempty"`
	Address        string      `json:"address,omitempty"`
	State          State       `json:"state"`
	Awaiting       string      `json:"awaiting,omitempty"`
	Code           string      `json:"code,omitempty"`          // authorisation code of the handshake
	Acked          bool        `json:"acked,omitempty"`         // our operator confirmed the code
	PartnerAcked   bool        `json:"partner_acked,omitempty"` // the partner confirmed the code to us
	FromHello      bool        `json:"from_hello,omitempty"`    // created by a partner's hello, not by our operator
	PendingUntil   time.Time   `json:"pending_until,omitzero"`  // an inbound handshake lapses then
	GuestRoot      string      `json:"guest_root,omitempty"`
	GuestCrt       string      `json:"guest_crt,omitempty"`
	AllowPlaintext bool        `json:"allow_plaintext,omitempty"`
	PlaintextFrom  []string    `json:"plaintext_from,omitempty"` // where a plaintext partner may call from (CIDRs); default the IPs of its address
	Outbox         bool        `json:"outbox,omitempty"`
	Codec          string      `json:"codec,omitempty"`   // codec plugin that encodes payloads to this partner
	Dialect        ptp.Dialect `json:"dialect,omitempty"` // how the partner speaks PTP: mesh (""), legacy or kuscia
	Trust          string      `json:"trust,omitempty"`   // how a partner without the weave was confirmed: plaintext or root
	Disabled       bool        `json:"disabled,omitempty"`
	ExpiresAt      time.Time   `json:"expires_at,omitzero"`
	Updated        time.Time   `json:"updated,omitzero"`
	// Handshake is the secret state of an inbound handshake between the
	// hello and the reveal. It is stored, never shown: views drop it.
	Handshake *Handshake `json:"handshake,omitempty"`
}

// Handshake is what a responder keeps between a partner's hello and its
// reveal: the partner's commitment and our own nonce.
type Handshake struct {
	Commit []byte `json:"commit"`
	Nonce  []byte `json:"nonce"`
}

// awaiting says who a pending route waits for.
func (r Route) awaiting() string {
	switch {
	case r.State != StatePending:
		return ""
	case r.Code == "":
		return AwaitingReveal
	case !r.Acked && !r.PartnerAcked:
		return AwaitingBoth
	case !r.Acked:
		return AwaitingUs
	case !r.PartnerAcked:
		return AwaitingPartner
	}
	return ""
}

// lapsed says whether an inbound handshake has passed its time.
func (r Route) lapsed(now time.Time) bool {
	return r.State == StatePending && !r.PendingUntil.IsZero() && now.After(r.PendingUntil)
}

// Effective is the state the route shows now: disabled and expired win over
// the stored state.
func (r Route) Effective(now time.Time) State {
	switch {
	case r.Disabled:
		return StateDisabled
	case !r.ExpiresAt.IsZero() && now.After(r.ExpiresAt), r.lapsed(now):
		return StateExpired
	}
	return r.State
}

// usable says whether traffic may flow on the route now, as a PTP error.
func (r Route) usable(now time.Time) error {
	switch r.Effective(now) {
	case StateWoven:
		return nil
	case StateDisabled:
		return ptp.Errorf(ptp.PeerDisabled, "partner %s is disabled", r.NodeID)
	case StateExpired:
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
	if err := checkPrintable("address", s, maxAddress); err != nil {
		return Address{}, err
	}
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

// maxAddress bounds an address: several replicas fit, a flood does not.
const maxAddress = 1024

// checkPrintable refuses s if it is longer than max bytes or holds anything
// but printable ASCII (space included).
func checkPrintable(what, s string, max int) error {
	if len(s) > max {
		return ptp.Errorf(ptp.BadAddress, "%s of %d bytes: at most %d", what, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return ptp.Errorf(ptp.BadAddress, "%s %q: only printable ASCII is allowed", what, s)
		}
	}
	return nil
}

// maxRoot bounds a PEM root certificate; Mesh's own are under 1 KiB and an
// RSA-4096 root with long names under 4 KiB.
const maxRoot = 16 << 10

// canonicalRoot reads a root sent by a partner or an operator: exactly one
// PEM CERTIFICATE block with no headers and nothing but whitespace around
// it, a CA, at most maxRoot bytes. It returns the root re-encoded from its
// DER, so that every copy of one root is the same string, and the DER.
func canonicalRoot(s string) (string, []byte, error) {
	if len(s) > maxRoot {
		return "", nil, fmt.Errorf("root of %d bytes: at most %d", len(s), maxRoot)
	}
	trimmed := strings.TrimSpace(s)
	if !strings.HasPrefix(trimmed, "-----BEGIN ") {
		return "", nil, fmt.Errorf("want one PEM certificate and nothing before it")
	}
	b, rest := pem.Decode([]byte(trimmed))
	switch {
	case b == nil || b.Type != "CERTIFICATE":
		return "", nil, fmt.Errorf("no PEM certificate")
	case len(b.Headers) > 0:
		return "", nil, fmt.Errorf("PEM headers are not allowed in a root")
	case len(rest) > 0:
		return "", nil, fmt.Errorf("text after the root certificate is not allowed (%d bytes)", len(rest))
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "", nil, err
	}
	if !c.IsCA || !c.BasicConstraintsValid {
		return "", nil, fmt.Errorf("%q is not a CA certificate", c.Subject.CommonName)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), c.Raw, nil
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
