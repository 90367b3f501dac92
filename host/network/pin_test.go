package network

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// TestCheckPinned: a pinned certificate is held to what a chain would be:
// valid now, and made for the usage at hand.
func TestCheckPinned(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name       string
		from, to   time.Time
		eku        []x509.ExtKeyUsage
		usage      x509.ExtKeyUsage
		wantRefuse bool
	}{
		{"valid client", now.Add(-time.Hour), now.Add(time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, x509.ExtKeyUsageClientAuth, false},
		{"no usage named", now.Add(-time.Hour), now.Add(time.Hour), nil, x509.ExtKeyUsageServerAuth, false},
		{"any usage", now.Add(-time.Hour), now.Add(time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, x509.ExtKeyUsageServerAuth, false},
		{"expired", now.Add(-2 * time.Hour), now.Add(-time.Hour), nil, x509.ExtKeyUsageClientAuth, true},
		{"not yet valid", now.Add(time.Hour), now.Add(2 * time.Hour), nil, x509.ExtKeyUsageClientAuth, true},
		{"server-only as client", now.Add(-time.Hour), now.Add(time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, x509.ExtKeyUsageClientAuth, true},
		{"client-only as server", now.Add(-time.Hour), now.Add(time.Hour), []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, x509.ExtKeyUsageServerAuth, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := selfSigned(t, tc.from, tc.to, tc.eku)
			err := checkPinned("node-p", c, tc.usage, now)
			if (err != nil) != tc.wantRefuse {
				t.Fatalf("checkPinned: %v, want refused=%v", err, tc.wantRefuse)
			}
			if c, _ := ptp.Describe(err); err != nil && c != ptp.CertificateError {
				t.Fatalf("code %s, want %s", c, ptp.CertificateError)
			}
		})
	}
}

func selfSigned(t *testing.T, from, to time.Time, eku []x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "node-p"}, DNSNames: []string{"node-p"},
		NotBefore: from, NotAfter: to, ExtKeyUsage: eku}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
