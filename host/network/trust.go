package network

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/ppcmesh/mesh/host/portmux"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Conn is what a connection showed of itself: the certificates its peer
// presented in the TLS handshake, if any. Verifications against a route are
// cached on it, so a partner's chain is checked once per connection.
type Conn struct {
	TLS    bool
	Remote string // the peer's IP address
	certs  []*x509.Certificate

	mu       sync.Mutex
	verified map[string]uint64 // node id → route revision the chain was checked against
}

// ConnOf describes c, a connection the port mux delivered.
func ConnOf(c net.Conn) *Conn {
	remote := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	st := portmux.TLSState(c)
	if st == nil {
		return &Conn{Remote: remote}
	}
	return &Conn{TLS: true, Remote: remote, certs: st.PeerCertificates}
}

// HasCert reports whether the peer presented a certificate: only partner
// nodes do, and they may not use the control or container-side API.
func (c *Conn) HasCert() bool { return c != nil && len(c.certs) > 0 }

// RemoteIP is the peer's IP address; empty for in-process calls.
func (c *Conn) RemoteIP() string {
	if c == nil {
		return ""
	}
	return c.Remote
}

// AuthType makes Conn a gRPC AuthInfo.
func (c *Conn) AuthType() string { return "mesh" }

// verify checks the peer's chain against route e for usage, once per
// route revision.
func (c *Conn) verify(e *entry) error {
	c.mu.Lock()
	rev, ok := c.verified[e.NodeID]
	c.mu.Unlock()
	if ok && rev == e.rev {
		return nil
	}
	if err := verifyChain(e, c.certs, x509.ExtKeyUsageClientAuth); err != nil {
		return err
	}
	c.mu.Lock()
	if c.verified == nil {
		c.verified = make(map[string]uint64)
	}
	c.verified[e.NodeID] = e.rev
	c.mu.Unlock()
	return nil
}

// verifyChain checks that certs, leaf first, chain to route e's root (or are
// its pinned certificate) and name its node id.
func verifyChain(e *entry, certs []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return ptp.Errorf(ptp.CertificateError, "node %s presented no certificate", e.NodeID)
	}
	leaf := certs[0]
	if e.pin != nil && bytes.Equal(leaf.Raw, e.pin) {
		return checkPinned(e.NodeID, leaf, usage, time.Now())
	}
	if e.pool == nil {
		return ptp.Errorf(ptp.NotWoven, "no root is known for node %s: weave it first", e.NodeID)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: e.pool, Intermediates: inter, DNSName: e.NodeID,
		KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return ptp.Errorf(ptp.CertificateError, "certificate of %q does not chain to the root of partner %s: %v",
			leaf.Subject.CommonName, e.NodeID, err)
	}
	return nil
}

// checkPinned checks what a chain would for a pinned certificate: that it
// is valid now and made for usage.
func checkPinned(node string, c *x509.Certificate, usage x509.ExtKeyUsage, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return ptp.Errorf(ptp.CertificateError, "the pinned certificate of partner %s is valid from %s to %s, not now",
			node, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	}
	if len(c.ExtKeyUsage) == 0 || slices.Contains(c.ExtKeyUsage, usage) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil
	}
	return ptp.Errorf(ptp.CertificateError, "the pinned certificate of partner %s is not made for %s", node, usageName[usage])
}

var usageName = map[x509.ExtKeyUsage]string{x509.ExtKeyUsageClientAuth: "client authentication", x509.ExtKeyUsageServerAuth: "server authentication"}

// TLSConfig is the base of every TLS configuration of the node, serving and
// dialling: TLS 1.2 at least and, for 1.2, only AEAD suites with forward
// secrecy (TLS 1.3's are all such).
func TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// Caller names the partner a request comes from, or "" for a caller inside
// the institution (a container or an operator). claimed is the source node
// id the request's headers give, if any.
//
// A connection with a client certificate is a partner: the certificate must
// chain to a woven partner's root, and a claimed source must be that
// partner. Without a certificate, a claim to be a partner is accepted only
// for a route that opted in to plaintext.
func (n *Network) Caller(c *Conn, claimed string) (string, error) {
	self := n.ident.NodeID()
	if !c.HasCert() {
		if claimed == "" || claimed == self {
			return "", nil
		}
		e, ok := n.routes.get(claimed)
		if !ok {
			return "", nil // an unknown name from inside: containers set all sorts
		}
		if !e.AllowPlaintext {
			return "", ptp.Errorf(ptp.Unauthorized, "source %s is a partner: it must connect over TLS with its certificate", claimed)
		}
		if !e.plaintextFrom(c.RemoteIP()) {
			return "", ptp.Errorf(ptp.Unauthorized, "plaintext partner %s calls from %s only, not %s: set plaintext_from on its route to admit its source addresses",
				claimed, DescribeNets(e.plain), c.RemoteIP())
		}
		return e.NodeID, e.usable(time.Now())
	}
	e, err := n.certRoute(c.certs[0])
	if err != nil {
		return "", err
	}
	if err := e.usable(time.Now()); err != nil {
		return "", err
	}
	if err := c.verify(e); err != nil {
		return "", err
	}
	if claimed != "" && claimed != e.NodeID {
		return "", ptp.Errorf(ptp.Unauthorized, "source node %q is not the node %s whose certificate was presented", claimed, e.NodeID)
	}
	return e.NodeID, nil
}

// plaintextFrom says whether a plaintext caller at ip may be this partner.
func (e *entry) plaintextFrom(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range e.plain {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// plaintextSources are the networks a plaintext partner may call from:
// those the operator listed, else the IP addresses of its route's address
// (a host name admits nobody: list its sources).
func plaintextSources(r Route) []netip.Prefix {
	if len(r.PlaintextFrom) > 0 {
		p, _ := ParseNets(r.PlaintextFrom)
		return p
	}
	a, err := ParseAddress(r.Address)
	if r.Address == "" || err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, hp := range a.Hosts {
		host, _, _ := net.SplitHostPort(hp)
		if ip, err := netip.ParseAddr(host); err == nil {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		}
	}
	return out
}

// ParseNets reads networks given as CIDRs or single addresses (a single
// address is a network of one).
func ParseNets(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// DescribeNets lists networks for a message; "nowhere" when there are none.
func DescribeNets(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "nowhere"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// certRoute finds the route of the node a certificate names.
func (n *Network) certRoute(leaf *x509.Certificate) (*entry, error) {
	for _, name := range names(leaf) {
		if e, ok := n.routes.get(name); ok {
			return e, nil
		}
	}
	return nil, ptp.Errorf(ptp.NotWoven, "certificate of %q names no partner of this node", leaf.Subject.CommonName)
}

// ServerTLS is the TLS configuration of the node's port: the serving
// certificate of the current identity, and any client certificate accepted
// for checking per request against the partner routes (so that unwoven
// nodes can still reach the handshake and get a PTP code, not a TLS alert).
func (n *Network) ServerTLS() *tls.Config {
	cfg := TLSConfig()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	cfg.ClientAuth = tls.RequestClientCert
	cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return n.certificate() }
	return cfg
}

// certificate is the serving certificate of the current identity.
func (n *Network) certificate() (*tls.Certificate, error) {
	kp := n.ident.Current().Serving
	if kp.CertPEM == nil {
		return nil, errors.New("this node has no identity yet: POST /v1/interconn/node/refresh")
	}
	n.certMu.Lock()
	defer n.certMu.Unlock()
	if n.cert == nil || !bytes.Equal(n.certPEM, kp.CertPEM) {
		c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		n.cert, n.certPEM = &c, kp.CertPEM
	}
	return n.cert, nil
}

// clientTLS is the configuration for dialling partner e: our certificate,
// and the partner's root (or pinned certificate) as the only trust.
func (n *Network) clientTLS(e *entry) *tls.Config {
	cfg := TLSConfig()
	cfg.ServerName, cfg.RootCAs = e.NodeID, e.pool
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return n.certificate() }
	if e.pool == nil {
		// Pinned certificate only: check it ourselves.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], e.pin) {
				return fmt.Errorf("partner %s presented a certificate other than the one pinned", e.NodeID)
			}
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			return checkPinned(e.NodeID, c, x509.ExtKeyUsageServerAuth, time.Now())
		}
	}
	return cfg
}

// serverCreds hands grpc-go the Conn of each connection the mux terminated,
// as the AuthInfo of the calls on it.
type serverCreds struct{}

// ServerCreds are the gRPC server credentials of the node's port: TLS is
// terminated by the port mux, and each call sees its connection's Conn as
// peer.AuthInfo.
func ServerCreds() credentials.TransportCredentials { return serverCreds{} }

func (serverCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, ConnOf(c), nil
}

func (serverCreds) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("server credentials only")
}

func (serverCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "mesh"}
}

func (s serverCreds) Clone() credentials.TransportCredentials { return s }

func (serverCreds) OverrideServerName(string) error { return nil }
