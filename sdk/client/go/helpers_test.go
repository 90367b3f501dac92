package meshclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// The tests of this package are external (package meshclient_test): they
// start nodes through host/meshtest, which uses host/client, which is
// built on this package.

// wires are the two transports every table test runs over.
var wires = []struct {
	name string
	opts []meshclient.Option
}{
	{"grpc", nil},
	{"http", []meshclient.Option{meshclient.WithHTTP()}},
}

// callWait bounds each test's calls; a pop that should find nothing waits
// far less (emptyWait).
const (
	callWait  = 30 * time.Second
	emptyWait = 50 * time.Millisecond
)

// dial connects to n's address, closing the transport when the test ends.
func dial(tb testing.TB, n *meshtest.Node, opts ...meshclient.Option) *meshclient.Transport {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callWait)
	defer cancel()
	tr, err := meshclient.Dial(ctx, n.Addr, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = tr.Close() })
	return tr
}

// open opens session id on tr with md.
func open(tb testing.TB, tr *meshclient.Transport, id string, md meshclient.Metadata) *meshclient.Session {
	tb.Helper()
	s, err := tr.Open(context.Background(), id, md)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// ctx is a bounded context for one test.
func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), callWait)
	tb.Cleanup(cancel)
	return c
}

// pair starts two nodes and weaves them: node-a of inst-a, node-b of inst-b.
func pair(tb testing.TB) (a, b *meshtest.Node) {
	tb.Helper()
	a, b = meshtest.Start(tb, host.Config{}), meshtest.Start(tb, host.Config{})
	a.Identify(tb, "node-a", "inst-a")
	b.Identify(tb, "node-b", "inst-b")
	meshtest.Weave(tb, a, b, nil)
	return a, b
}
