package identity_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ppcmesh/mesh/host/cluster"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/pki"
	"github.com/ppcmesh/mesh/host/ptp"
)

// natsJS is an embedded NATS alone, closed when the test ends.
func natsJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := cluster.Start(context.Background(), cluster.Config{StoreDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc.JS
}

// open is a Store over js, closed when the test ends.
func open(t *testing.T, js jetstream.JetStream, hosts ...string) *identity.Store {
	t.Helper()
	s, err := identity.Open(context.Background(), js, 1, hosts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func refresh(t *testing.T, s *identity.Store, r identity.Refresh) identity.Public {
	t.Helper()
	p, err := s.Refresh(context.Background(), r)
	if err != nil {
		t.Fatalf("refresh %+v: %v", r, err)
	}
	return p
}

func code(err error) ptp.Code { c, _ := ptp.Describe(err); return c }

// leaf parses a PEM certificate.
func leaf(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM in %.40q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCheckID: node and institution ids are 1-128 letters, digits, '.',
// '_' or '-', starting with a letter or digit.
func TestCheckID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"node-a", true}, {"A.b_c-9", true}, {"9", true}, {strings.Repeat("x", 128), true},
		{"", false}, {"-a", false}, {".a", false}, {"a b", false}, {"a/b", false}, {"é", false},
		{strings.Repeat("x", 129), false}, {"a\n", false},
	} {
		err := identity.CheckID("node_id", tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("%.20q: %v, want ok %v", tc.id, err, tc.ok)
		}
		if err != nil && (code(err) != ptp.BadRequest || !strings.Contains(err.Error(), "node_id")) {
			t.Errorf("%.20q: %v, want a bad request naming the field", tc.id, err)
		}
	}
}

// TestRefreshIdentity: the first refresh makes a root and a serving
// certificate for the node id and the given hosts; the identity shows no
// private key and survives a reopen.
func TestRefreshIdentity(t *testing.T) {
	js := natsJS(t)
	s := open(t, js, "127.0.0.1", "mesh.local")
	if s.NodeID() != "" || s.Public().RootCrt != "" {
		t.Fatalf("identity before any refresh: %+v", s.Public())
	}
	p := refresh(t, s, identity.Refresh{NodeID: "node-a", InstID: "inst-a", InstName: "Bank A"})
	if p.NodeID != "node-a" || p.InstID != "inst-a" || p.InstName != "Bank A" || p.Version != ptp.Version {
		t.Fatalf("public %+v", p)
	}
	if strings.Contains(p.RootCrt+p.Crt, "PRIVATE KEY") {
		t.Fatal("the public identity shows a private key")
	}
	root, crt := leaf(t, p.RootCrt), leaf(t, p.Crt)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	for _, name := range []string{"node-a", "mesh.local", "127.0.0.1"} {
		if _, err := crt.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("serving certificate for %s: %v", name, err)
		}
	}
	if got := open(t, js).Public(); got != p {
		t.Fatalf("reopened: %+v, want %+v", got, p)
	}
}

// TestRefreshKeepsRoot: later refreshes keep the root, so partners' trust
// survives; the serving certificate is reissued only when the id changes.
func TestRefreshKeepsRoot(t *testing.T) {
	s := open(t, natsJS(t))
	first := refresh(t, s, identity.Refresh{NodeID: "node-a"})
	renamed := refresh(t, s, identity.Refresh{NodeID: "node-a", InstName: "Bank A"})
	if renamed.RootCrt != first.RootCrt || renamed.Crt != first.Crt {
		t.Fatal("a refresh of the name alone changed the root or the serving certificate")
	}
	moved := refresh(t, s, identity.Refresh{NodeID: "node-b"})
	if moved.RootCrt != first.RootCrt {
		t.Fatal("a new node id changed the root")
	}
	if moved.Crt == first.Crt || leaf(t, moved.Crt).VerifyHostname("node-b") != nil {
		t.Fatal("a new node id kept a serving certificate that does not name it")
	}
}

// TestRefreshGivenRoot: a root given with its key becomes the node's; one
// given without its key, or that is no CA, is refused; bad ids are refused.
func TestRefreshGivenRoot(t *testing.T) {
	s := open(t, natsJS(t))
	root, err := pki.NewRoot("given")
	if err != nil {
		t.Fatal(err)
	}
	p := refresh(t, s, identity.Refresh{NodeID: "node-a", RootCrt: string(root.CertPEM), RootKey: string(root.KeyPEM)})
	if p.RootCrt != string(root.CertPEM) {
		t.Fatal("the given root was not taken")
	}
	serving, err := pki.Issue(root, "node-x", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    identity.Refresh
		want ptp.Code
	}{
		{"root without its key", identity.Refresh{NodeID: "node-a", RootCrt: string(root.CertPEM)}, ptp.BadRequest},
		{"key without its root", identity.Refresh{NodeID: "node-a", RootKey: string(root.KeyPEM)}, ptp.BadRequest},
		{"not a CA", identity.Refresh{NodeID: "node-a", RootCrt: string(serving.CertPEM), RootKey: string(serving.KeyPEM)}, ptp.CertificateError},
		{"garbage", identity.Refresh{NodeID: "node-a", RootCrt: "x", RootKey: "y"}, ptp.CertificateError},
		{"bad node id", identity.Refresh{NodeID: "a b"}, ptp.BadRequest},
		{"bad inst id", identity.Refresh{NodeID: "node-a", InstID: "a/b"}, ptp.BadRequest},
	} {
		if _, err := s.Refresh(context.Background(), tc.r); code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if s.Public() != p {
		t.Fatalf("a refused refresh changed the identity: %+v", s.Public())
	}
}

// TestRefreshConflict: two replicas refreshing at once over one bucket
// both succeed (the loser of the compare-and-swap starts again from the
// winner's identity), keep one root, and end seeing the same identity.
func TestRefreshConflict(t *testing.T) {
	js := natsJS(t)
	a, b := open(t, js), open(t, js)
	first := refresh(t, a, identity.Refresh{NodeID: "node-a"})
	ctx := context.Background()
	const rounds = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	for i, s := range []*identity.Store{a, b} {
		wg.Go(func() {
			for r := range rounds {
				_, err := s.Refresh(ctx, identity.Refresh{NodeID: "node-a", InstName: string(rune('a'+i)) + string(rune('0'+r))})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a racing refresh failed: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Public() != b.Public() {
		if time.Now().After(deadline) {
			t.Fatalf("the replicas disagree: %+v and %+v", a.Public(), b.Public())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.Public().RootCrt != first.RootCrt {
		t.Fatal("racing refreshes changed the root")
	}
}

// TestRenameCheck: a refresh that changes the node id asks the rename
// check, which may refuse it; one that keeps the id does not ask.
func TestRenameCheck(t *testing.T) {
	s := open(t, natsJS(t))
	refresh(t, s, identity.Refresh{NodeID: "node-a"})
	var asked []string
	refusal := ptp.Errorf(ptp.NotPermitted, "messages are queued under node-a")
	s.CheckRenames(func(_ context.Context, from string) error {
		asked = append(asked, from)
		return refusal
	})
	refresh(t, s, identity.Refresh{NodeID: "node-a", InstName: "same id"})
	if _, err := s.Refresh(context.Background(), identity.Refresh{NodeID: "node-b"}); !errors.Is(err, refusal) {
		t.Fatalf("rename: %v, want the check's refusal", err)
	}
	if len(asked) != 1 || asked[0] != "node-a" || s.NodeID() != "node-a" {
		t.Fatalf("asked %v, node id %s", asked, s.NodeID())
	}
}
