package pki

import (
	"crypto/x509"
	"testing"
)

func TestRootIssuesVerifiableServingCert(t *testing.T) {
	root, err := NewRoot("node-a root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Issue(root, "node-a", []string{"127.0.0.1", "mesh.example"})
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := Parse(root)
	if err != nil || !ca.IsCA {
		t.Fatalf("root: %v", err)
	}
	cert, _, err := Parse(leaf)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "node-a"}); err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Parse(KeyPair{CertPEM: root.CertPEM, KeyPEM: leaf.KeyPEM}); err == nil {
		t.Fatal("mismatched key accepted")
	}
}
