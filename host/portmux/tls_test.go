package portmux

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// selfSigned makes a throwaway certificate for name.
func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSIsTerminatedAndSniffed: TLS and plaintext share the port; the
// servers see the peer's certificate through TLSState, plaintext none.
func TestTLSIsTerminatedAndSniffed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(ln)
	m.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t, "server")}, ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"h2", "http/1.1"}}
	go func() { _ = m.Serve() }()
	defer m.Close()
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: p, ConnContext: func(ctx context.Context, c net.Conn) context.Context {
		return withPeer(ctx, TLSState(c))
	}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto+" "+peerOf(r.Context()))
	})}
	go func() { _ = srv.Serve(m.HTTP()) }()
	defer srv.Close()

	client := selfSigned(t, "node-a")
	for _, tc := range []struct {
		name string
		tr   *http.Transport
		url  string
		want string
	}{
		{"plaintext", &http.Transport{}, "http://", "HTTP/1.1 plaintext"},
		{"tls http/1.1", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{client}}}, "https://", "HTTP/1.1 node-a"},
		{"tls h2", &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{client}}}, "https://", "HTTP/2.0 node-a"},
		{"tls without a client certificate", &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, "https://", "HTTP/1.1 no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := (&http.Client{Transport: tc.tr}).Get(tc.url + ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Fatalf("got %q, want %q", b, tc.want)
			}
		})
	}
}

type peerKey struct{}

func withPeer(ctx context.Context, st *tls.ConnectionState) context.Context {
	return context.WithValue(ctx, peerKey{}, st)
}

func peerOf(ctx context.Context) string {
	st, _ := ctx.Value(peerKey{}).(*tls.ConnectionState)
	switch {
	case st == nil:
		return "plaintext"
	case len(st.PeerCertificates) == 0:
		return "no certificate"
	}
	return st.PeerCertificates[0].Subject.CommonName
}
