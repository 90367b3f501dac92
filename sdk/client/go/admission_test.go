package meshclient_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// TestContainerToken: a node that admits containers by token alone refuses
// a transport without it (403, on calls and on PushMany's stream) and
// serves one with WithToken.
func TestContainerToken(t *testing.T) {
	n := meshtest.Start(t, host.Config{ContainerNets: []string{"none"}, ContainerToken: "s3cret"})
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			anon := open(t, dial(t, n, w.opts...), "tok-"+w.name, nil)
			expect(t, "push without the token", anon.Push(c, "t", []byte("x"), nil), meshclient.ErrUnauthorized)
			expect(t, "push many without the token", anon.PushMany(c, "t", [][]byte{[]byte("x")}, 2), meshclient.ErrUnauthorized)
			_, err := anon.Pop(c, "t", emptyWait)
			expect(t, "pop without the token", err, meshclient.ErrUnauthorized)

			s := open(t, dial(t, n, append(w.opts, meshclient.WithToken("s3cret"))...), "tok-"+w.name, nil)
			if err := s.PushMany(c, "t", [][]byte{[]byte("a"), []byte("b")}, 2); err != nil {
				t.Fatal(err)
			}
			popAll(t, s, "t", [][]byte{[]byte("a"), []byte("b")})
		})
	}
}

// TestTLS: WithTLS reaches the node over TLS, verifying its serving
// certificate against the node's root; a client that does not trust that
// root fails at Dial.
func TestTLS(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(n.Identify(t, "node-a", "inst-a"))) {
		t.Fatal("the node's root certificate does not parse")
	}
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) {
			c := ctx(t)
			cfg := &tls.Config{RootCAs: roots, ServerName: "node-a", MinVersion: tls.VersionTLS12}
			s := open(t, dial(t, n, append(w.opts, meshclient.WithTLS(cfg))...), "tls-"+w.name, nil)
			if err := s.Push(c, "t", []byte("over tls"), nil); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Pop(c, "t", callWait); err != nil || string(got) != "over tls" {
				t.Fatalf("pop over tls: %q, %v", got, err)
			}
			untrusted := &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "node-a", MinVersion: tls.VersionTLS12}
			if tr, err := meshclient.Dial(c, n.Addr, append(w.opts, meshclient.WithTLS(untrusted))...); err == nil {
				tr.Close()
				t.Fatal("dial trusted a node whose root it does not hold")
			}
		})
	}
}
