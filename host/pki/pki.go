// Package pki makes and checks the certificates of a node: its own root CA
// (ECDSA P-256 unless the operator supplies RSA or other material) and the
// serving certificate that root issues for the node's names and addresses.
// Keys are PEM in PKCS#8; nothing here ever sends them anywhere.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyPair is a certificate and its private key, both PEM.
type KeyPair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// Lifetimes of what the node issues itself.
const (
	RootLifetime    = 10 * 365 * 24 * time.Hour
	ServingLifetime = 2 * 365 * 24 * time.Hour
)

// NewRoot makes a self-signed root CA named for the node.
func NewRoot(commonName string) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Mesh"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(RootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return KeyPair{}, err
	}
	return encode(der, key)
}

// Issue makes a serving and client certificate for nodeID, signed by root.
// hosts become SANs: IP addresses as IP SANs, the rest as DNS names.
func Issue(root KeyPair, nodeID string, hosts []string) (KeyPair, error) {
	ca, caKey, err := Parse(root)
	if err != nil {
		return KeyPair{}, fmt.Errorf("root: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: nodeID, Organization: ca.Subject.Organization},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     minTime(time.Now().Add(ServingLifetime), ca.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{nodeID},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" && h != nodeID {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return KeyPair{}, err
	}
	return encode(der, key)
}

// Parse reads a key pair and checks that the key belongs to the certificate.
// It accepts PKCS#8, PKCS#1 (RSA) and SEC 1 (EC) keys.
func Parse(kp KeyPair) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(kp.CertPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	kb, _ := pem.Decode(kp.KeyPEM)
	if kb == nil {
		return nil, nil, errors.New("no PEM private key")
	}
	key, err := parseKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if !publicEqual(cert.PublicKey, key.Public()) {
		return nil, nil, errors.New("private key does not match the certificate")
	}
	return cert, key, nil
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("private key cannot sign")
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("private key: not PKCS#8, PKCS#1 or SEC 1")
}

func publicEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

func encode(der []byte, key crypto.Signer) (KeyPair, error) {
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
	}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
