package meshclient_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/ptp"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// python is a Python 3 for the cross-language tests (the SDK needs only
// the standard library), or skips the test.
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skip("no python3 on this machine: the Go ↔ Python RPC tests need one")
	return ""
}

// pyDemo runs python3 -m mesh.rpc_demo with args, the SDK on its path.
func pyDemo(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	sdk, err := filepath.Abs("../../python")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, python(t), append([]string{"-m", "mesh.rpc_demo"}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+sdk)
	cmd.Stderr = os.Stderr
	return cmd
}

// pyProvider starts the Python demo Tokenizer registered at node, exposed,
// and stops it (it unregisters) when the test ends.
func pyProvider(t *testing.T, node *meshtest.Node) {
	t.Helper()
	cmd := pyDemo(t, ctx(t), "serve", "--node", node.Addr, "--exposed")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "ready ") {
		t.Fatalf("python provider did not start: %q %v", line, err)
	}
}

// provider starts a Go provider of h as name at node, closed when the
// test ends.
func provider(t *testing.T, node *meshtest.Node, name string, h meshclient.RPCHandler, opts ...meshclient.ProviderOption) *meshclient.Provider {
	t.Helper()
	p := meshclient.NewProvider(node.Addr, opts...).Handle(name, h)
	if err := p.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// echo answers "go:" + its text argument; text "fail" returns a plain
// error, "refuse" an *Error of E0000000700.
func echo(ctx context.Context, args map[string]json.RawMessage) (any, error) {
	var text string
	if err := meshclient.RPCArg(args, "text", &text); err != nil {
		return nil, err
	}
	switch text {
	case "fail":
		return nil, errors.New("echo failed on purpose")
	case "refuse":
		return nil, &meshclient.Error{Code: ptp.BufferFull, Message: "full on purpose"}
	case "trace":
		return meshclient.RPCTraceID(ctx), nil
	}
	return "go:" + text, nil
}

func TestRPCGoConsumerCallsPythonProviderAtPartner(t *testing.T) {
	python(t)
	a, b := pair(t)
	pyProvider(t, b)
	var token string
	err := meshclient.Call(ctx(t), "mesh.trust.apply", map[string]any{"kind": "PERMIT", "duration": 60000}, &token,
		meshclient.WithNode(a.Addr), meshclient.WithTarget(b.ID, ""))
	if err != nil || token != "PERMIT:60000" {
		t.Fatalf("apply through A to B's Python provider: %q %v", token, err)
	}
	var ok bool
	if err := meshclient.Call(ctx(t), "mesh.trust.verify", map[string]any{"token": token}, &ok,
		meshclient.WithNode(a.Addr), meshclient.WithTarget("", b.Inst)); err != nil || !ok {
		t.Fatalf("verify by institution: %v %v", ok, err)
	}
	err = meshclient.Call(ctx(t), "mesh.trust.apply", map[string]any{"kind": "BOGUS", "duration": 1}, &token,
		meshclient.WithNode(a.Addr), meshclient.WithTarget(b.ID, ""))
	var re *meshclient.RemoteError
	if !errors.As(err, &re) || re.Type != "ValueError" || !strings.Contains(re.Message, "unknown kind 'BOGUS'") ||
		meshclient.CodeOf(err) != ptp.SystemError {
		t.Fatalf("a raising Python method: want a RemoteError of ValueError, got %#v", err)
	}
	err = meshclient.Call(ctx(t), "mesh.trust.apply", map[string]any{"kind": "PERMIT"}, &token, meshclient.WithNode(b.Addr))
	if meshclient.CodeOf(err) != ptp.BadRequest {
		t.Fatalf("a missing argument: want %s, got %v", ptp.BadRequest, err)
	}
}

func TestRPCPythonConsumerCallsGoProviderAtPartner(t *testing.T) {
	python(t)
	a, b := pair(t)
	provider(t, b, "go.demo.echo", echo, meshclient.WithExposed())
	for _, c := range []struct{ args, want string }{
		{`{"text": "hi"}`, `"go:hi"`},
		{`{"text": "fail"}`, "error E0000000500 go.demo.echo: echo failed on purpose"},
		{`{"text": "refuse"}`, "error E0000000700 go.demo.echo: full on purpose"},
		{`{}`, "error E0000000400 go.demo.echo: missing argument text"},
	} {
		out, _ := pyDemo(t, ctx(t), "call", "--node", a.Addr, "--target-node", b.ID, "go.demo.echo", c.args).Output()
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("python call %s: want %q, got %q", c.args, c.want, got)
		}
	}
}

func TestRPCGoToGo(t *testing.T) {
	a, b := pair(t)
	p := provider(t, b, "go.demo.echo", echo, meshclient.WithExposed(a.ID))
	var got string
	at := func(n *meshtest.Node, target string) []meshclient.CallOption {
		return []meshclient.CallOption{meshclient.WithNode(n.Addr), meshclient.WithTarget(target, "")}
	}
	if err := meshclient.Call(ctx(t), "go.demo.echo", map[string]any{"text": "x"}, &got, at(a, b.ID)...); err != nil || got != "go:x" {
		t.Fatalf("A → B: %q %v", got, err)
	}
	err := meshclient.Call(ctx(t), "go.demo.echo", map[string]any{"text": "trace"}, &got,
		append(at(a, b.ID), meshclient.WithTraceID("trace-7"))...)
	if err != nil || got != "trace-7" {
		t.Fatalf("trace id through both nodes: %q %v", got, err)
	}
	if err := meshclient.Call(ctx(t), "go.demo.echo", map[string]any{"text": "fail"}, nil, at(b, "")...); !errors.Is(err, &meshclient.Error{Code: ptp.SystemError}) {
		t.Fatalf("a plain handler error: want code %s, got %v", ptp.SystemError, err)
	}
	if err := meshclient.Call(ctx(t), "go.demo.echo", map[string]any{"text": "refuse"}, nil, at(b, "")...); !errors.Is(err, meshclient.ErrBufferFull) {
		t.Fatalf("a handler's *Error: want its code, got %v", err)
	}
	if err := meshclient.Call(ctx(t), "go.demo.none", nil, nil, at(a, b.ID)...); !errors.Is(err, meshclient.ErrNotPermitted) {
		t.Fatalf("a name B does not expose: want %s, got %v", ptp.NotPermitted, err)
	}
	if err := meshclient.Call(ctx(t), "go.demo.echo", nil, nil, at(a, "no-such-node")...); !errors.Is(err, meshclient.ErrNotWoven) {
		t.Fatalf("an unwoven target: want %s, got %v", ptp.NotWoven, err)
	}
	var n int
	if err := meshclient.Call(ctx(t), "go.demo.echo", map[string]any{"text": "x"}, &n, at(b, "")...); meshclient.CodeOf(err) != ptp.CodecError {
		t.Fatalf("a result that does not fit: want %s, got %v", ptp.CodecError, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := meshclient.Call(ctx(t), "go.demo.echo", map[string]any{"text": "x"}, nil, at(b, "")...); meshclient.CodeOf(err) != ptp.NotFound {
		t.Fatalf("after Close (unregistered): want %s, got %v", ptp.NotFound, err)
	}
}

func TestRPCUnexposedProviderIsNotPermittedToPartner(t *testing.T) {
	a, b := pair(t)
	provider(t, b, "go.demo.private", echo)
	var got string
	if err := meshclient.Call(ctx(t), "go.demo.private", map[string]any{"text": "b"}, &got, meshclient.WithNode(b.Addr)); err != nil || got != "go:b" {
		t.Fatalf("local call: %q %v", got, err)
	}
	err := meshclient.Call(ctx(t), "go.demo.private", map[string]any{"text": "a"}, &got, meshclient.WithNode(a.Addr), meshclient.WithTarget(b.ID, ""))
	if !errors.Is(err, meshclient.ErrNotPermitted) {
		t.Fatalf("partner call: want %s, got %v", ptp.NotPermitted, err)
	}
}

func TestRPCProviderDownIsNoProvider(t *testing.T) {
	a, _ := pair(t)
	// A provider registered at an address where nothing listens: what a
	// crashed provider leaves behind.
	provider(t, a, "go.demo.down", echo, meshclient.WithAdvertise("127.0.0.1:1"))
	err := meshclient.Call(ctx(t), "go.demo.down", map[string]any{"text": "x"}, nil, meshclient.WithNode(a.Addr))
	if !errors.Is(err, meshclient.ErrNoProvider) {
		t.Fatalf("want %s, got %v", ptp.NoProvider, err)
	}
}

func TestRPCServeUnregistersWhenDone(t *testing.T) {
	a, _ := pair(t)
	sctx, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- meshclient.Serve(sctx, a.Addr, "go.demo.serve", echo) }()
	meshtest.WaitFor(t, callWait, "the served method answering", func() bool {
		return meshclient.Call(ctx(t), "go.demo.serve", map[string]any{"text": "s"}, nil, meshclient.WithNode(a.Addr)) == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err := meshclient.Call(ctx(t), "go.demo.serve", map[string]any{"text": "s"}, nil, meshclient.WithNode(a.Addr))
	if meshclient.CodeOf(err) != ptp.NotFound {
		t.Fatalf("after Serve returned: want %s, got %v", ptp.NotFound, err)
	}
	if err := meshclient.Serve(ctx(t), "127.0.0.1:1", "x", echo); err == nil {
		t.Fatal("Serve with no node: want its error")
	}
}

func TestRPCProviderRefusesBadRequests(t *testing.T) {
	a, _ := pair(t)
	p := provider(t, a, "go.demo.echo", echo)
	for _, c := range []struct {
		method, path, body string
		status             int
		code               ptp.Code
	}{
		{"POST", "/mesh-rpc/go.demo.echo", "not json", 400, ptp.BadRequest},
		{"POST", "/mesh-rpc/go.demo.echo", `{"args": [1]}`, 400, ptp.BadRequest},
		{"POST", "/mesh-rpc/go.demo.echo", `{"args": {"text": 5}}`, 400, ptp.BadRequest},
		{"GET", "/mesh-rpc/go.demo.echo", "", 400, ptp.BadRequest},
		{"POST", "/mesh-rpc/go.demo.other", `{}`, 404, ptp.NotFound},
		{"POST", "/elsewhere", `{}`, 404, ptp.NotFound},
	} {
		req, _ := http.NewRequestWithContext(ctx(t), c.method, "http://"+p.Addr()+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var reply struct {
			Error struct{ Code ptp.Code } `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&reply)
		resp.Body.Close()
		if resp.StatusCode != c.status || reply.Error.Code != c.code {
			t.Errorf("%s %s %q: want %d %s, got %d %s", c.method, c.path, c.body, c.status, c.code, resp.StatusCode, reply.Error.Code)
		}
	}
}
