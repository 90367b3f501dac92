package network

import (
	"context"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/internal/defaults"
	"github.com/ppcmesh/mesh/host/internal/natstest"
	"github.com/ppcmesh/mesh/host/ptp"
	"github.com/ppcmesh/mesh/host/queue"
)

// TestHelloLimitsDefaults: the zero Config gets the limits of the defaults
// table, and a field an operator sets is kept while the others default.
func TestHelloLimitsDefaults(t *testing.T) {
	want := HelloLimits{PerIPBurst: defaults.HelloPerIPBurst, PerIPRate: defaults.HelloPerIPRate,
		NodeBurst: defaults.HelloNodeBurst, NodeRate: defaults.HelloNodeRate, Sources: defaults.HelloSources}
	var c Config
	c.defaults()
	if c.Hello != want {
		t.Fatalf("zero config: hello limits %+v, want %+v", c.Hello, want)
	}
	c = Config{Hello: HelloLimits{PerIPBurst: 3, Sources: -1}}
	c.defaults()
	want.PerIPBurst = 3
	if c.Hello != want {
		t.Fatalf("config with a burst of 3: hello limits %+v, want %+v", c.Hello, want)
	}
}

// TestHelloLimitsAreHonoured floods the limiter from one source and from
// many, under limits other than the defaults: each bucket lets exactly its
// burst through.
func TestHelloLimitsAreHonoured(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name    string
		lim     HelloLimits
		sources int // distinct source IPs in the flood, 100 calls each
		want    int // calls let through
	}{
		{"per source", HelloLimits{PerIPBurst: 3}, 1, 3},
		{"whole node", HelloLimits{NodeBurst: 5}, 10, 5},
		{"defaults", HelloLimits{}, 1, defaults.HelloPerIPBurst},
	} {
		l := newHelloLimiter(tc.lim)
		got := 0
		for i := range tc.sources * 100 {
			if l.allow(fmt.Sprint("127.0.0.", 2+i%tc.sources), now) {
				got++
			}
		}
		if got != tc.want {
			t.Errorf("%s: %d calls let through, want %d", tc.name, got, tc.want)
		}
	}
	l := newHelloLimiter(HelloLimits{Sources: 8})
	for i := range 100 {
		l.allow(fmt.Sprint("127.0.1.", i), now)
	}
	if len(l.sources) > 8 {
		t.Fatalf("%d sources tracked, want at most 8", len(l.sources))
	}
}

// TestOpenAppliesHelloLimits opens a network on a real JetStream with a
// per-source burst of 2 and floods its handshake admission from one
// address: the third call is refused with 614.
func TestOpenAppliesHelloLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := natstest.JetStream(t)
	q, err := queue.Open(ctx, js.Conn(), js, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ident, err := identity.Open(ctx, js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(ctx, js, ident, q, Config{Hello: HelloLimits{PerIPBurst: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := &Conn{TLS: true, Remote: "127.0.0.2", certs: []*x509.Certificate{{}}}
	for i := range 2 {
		if err := n.admitHandshake(c); err != nil {
			t.Fatalf("handshake %d within the burst: %v", i+1, err)
		}
	}
	if err := n.admitHandshake(c); code(err) != ptp.NotPermitted {
		t.Fatalf("handshake over the burst of 2: %v, want %s", err, ptp.NotPermitted)
	}
}
