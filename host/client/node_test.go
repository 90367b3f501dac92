package client_test

import (
	"bytes"
	"testing"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestHTTPAgainstNode: push, peek, pop and release through the HTTP client
// against a real node, in JSON and raw bodies, byte for byte.
func TestHTTPAgainstNode(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	for _, raw := range []bool{false, true} {
		c := &client.HTTP{URL: n.URL, Session: "s-http", Raw: raw}
		msg := []byte("\x00binary\xff message")
		if code, err := c.Push(t.Context(), "t", msg); err != nil || code != ptp.OK {
			t.Fatalf("raw %v: push: %s, %v", raw, code, err)
		}
		if got, code, err := c.Peek(t.Context(), "t"); err != nil || code != ptp.OK || !bytes.Equal(got, msg) {
			t.Fatalf("raw %v: peek: %q, %s, %v", raw, got, code, err)
		}
		if got, code, err := c.Pop(t.Context(), "t", 1000); err != nil || code != ptp.OK || !bytes.Equal(got, msg) {
			t.Fatalf("raw %v: pop: %q, %s, %v", raw, got, code, err)
		}
		if got, code, err := c.Pop(t.Context(), "t", 50); err != nil || code != ptp.OK || len(got) != 0 {
			t.Fatalf("raw %v: pop of an empty topic: %q, %s, %v", raw, got, code, err)
		}
		if code, err := c.Push(t.Context(), "t", []byte("dropped")); err != nil || code != ptp.OK {
			t.Fatalf("raw %v: push: %s, %v", raw, code, err)
		}
		if code, err := c.Release(t.Context(), "t"); err != nil || code != ptp.OK {
			t.Fatalf("raw %v: release: %s, %v", raw, code, err)
		}
		if got, _, err := c.Peek(t.Context(), "t"); err != nil || len(got) != 0 {
			t.Fatalf("raw %v: peek after release: %q, %v", raw, got, err)
		}
	}
}

// TestGRPCAgainstNode: push and pop through the gRPC client against a real
// node, the empty message included; both clients see one queue.
func TestGRPCAgainstNode(t *testing.T) {
	n := meshtest.Start(t, host.Config{})
	cc, err := client.Dial(n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var g client.Client = client.NewGRPC(cc, "s-grpc")
	var h client.Client = &client.HTTP{URL: n.URL, Session: "s-grpc"}
	for _, msg := range [][]byte{[]byte("over grpc"), {}} {
		if code, err := g.Push(t.Context(), "t", msg); err != nil || code != ptp.OK {
			t.Fatalf("push %q: %s, %v", msg, code, err)
		}
		if got, code, err := h.Pop(t.Context(), "t", 1000); err != nil || code != ptp.OK || !bytes.Equal(got, msg) {
			t.Fatalf("pop over HTTP of %q: %q, %s, %v", msg, got, code, err)
		}
	}
	if code, err := h.Push(t.Context(), "t", []byte("over http")); err != nil || code != ptp.OK {
		t.Fatalf("push over HTTP: %s, %v", code, err)
	}
	if got, code, err := g.Pop(t.Context(), "t", 1000); err != nil || code != ptp.OK || string(got) != "over http" {
		t.Fatalf("pop over gRPC: %q, %s, %v", got, code, err)
	}
}
