package meshclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Defaults of a Provider.
const (
	DefaultRPCTTL     = 30 * time.Second // validity of a registration; renewed at a third of it
	DefaultRPCTimeout = 10 * time.Second // the node's per-attempt timeout for a method
	rpcMaxBody        = 64 << 20         // largest request body a provider reads
	rpcControlWait    = 10 * time.Second // bound of each register/unregister call
)

// RPCHandler serves one RPC method: args are the call's named arguments as
// JSON; the result is marshalled as the reply's result. Returning an
// *Error answers its code; any other error answers E0000000500 with its
// message (a *RemoteError for the consumer).
type RPCHandler func(ctx context.Context, args map[string]json.RawMessage) (any, error)

// ProviderOption configures a Provider.
type ProviderOption func(*Provider)

// WithExposed makes the provider's methods reachable from woven partners
// (attrs.exposed), from only those node ids when any are given.
func WithExposed(partners ...string) ProviderOption {
	return func(p *Provider) { p.exposed, p.partners = true, strings.Join(partners, ",") }
}

// WithTTL sets the validity of the registration (default DefaultRPCTTL).
func WithTTL(d time.Duration) ProviderOption { return func(p *Provider) { p.ttl = d } }

// WithBind listens on addr (default 127.0.0.1:0); WithAdvertise tells the
// node to dial advertise instead of the bound address.
func WithBind(addr string) ProviderOption { return func(p *Provider) { p.bind = addr } }

// WithAdvertise names the address the node dials to reach the provider.
func WithAdvertise(addr string) ProviderOption { return func(p *Provider) { p.advertise = addr } }

// WithAdminToken authorises the registry calls with the node's admin token
// (needed when the provider is not on the node's loopback).
func WithAdminToken(token string) ProviderOption { return func(p *Provider) { p.token = token } }

// Provider serves RPC methods on a local HTTP port and keeps them
// registered with a node: Start registers and renews every TTL/3, Close
// unregisters and stops.
type Provider struct {
	node, bind, advertise, token, partners string
	exposed                                bool
	ttl                                    time.Duration
	handlers                               map[string]RPCHandler
	hc                                     *http.Client

	addr string
	srv  *http.Server
	quit chan struct{}
	wg   sync.WaitGroup // the serve and heartbeat goroutines
}

// NewProvider is a provider registering with the node at node (host:port;
// "" for MESH_ADDRESS or DefaultNode).
func NewProvider(node string, opts ...ProviderOption) *Provider {
	p := &Provider{node: nodeAddress(node), bind: "127.0.0.1:0", ttl: DefaultRPCTTL,
		handlers: map[string]RPCHandler{}, hc: defaultRPCClient(), quit: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Handle serves RPC method name with h; call it before Start.
func (p *Provider) Handle(name string, h RPCHandler) *Provider {
	p.handlers[name] = h
	return p
}

// Addr is the address the node dials, once started.
func (p *Provider) Addr() string { return p.addr }

// Start listens, registers every method with the node (returning its
// error), and starts renewing the registration.
func (p *Provider) Start(ctx context.Context) error {
	if len(p.handlers) == 0 {
		return errors.New("meshclient: provider has no method to serve")
	}
	ln, err := net.Listen("tcp", p.bind)
	if err != nil {
		return fmt.Errorf("rpc provider: %w", err)
	}
	p.addr = ln.Addr().String()
	if p.advertise != "" {
		p.addr = p.advertise
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serveHTTP), ReadHeaderTimeout: 30 * time.Second}
	p.wg.Add(1)
	go func() { defer p.wg.Done(); _ = p.srv.Serve(ln) }()
	if err := p.register(ctx); err != nil {
		_ = p.srv.Close()
		p.wg.Wait()
		return err
	}
	p.wg.Add(1)
	go p.heartbeat()
	return nil
}

// heartbeat renews the registration every TTL/3 until Close.
func (p *Provider) heartbeat() {
	defer p.wg.Done()
	tick := time.NewTicker(p.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), rpcControlWait)
			_ = p.register(ctx) // the node may be restarting: the next beat tries again
			cancel()
		}
	}
}

// Close stops renewing, unregisters, and stops serving.
func (p *Provider) Close() error {
	if p.srv == nil {
		return nil
	}
	close(p.quit)
	ctx, cancel := context.WithTimeout(context.Background(), rpcControlWait)
	defer cancel()
	err := p.control(ctx, "/v1/interconn/registry/unregister", map[string]string{"name": RPCRegistrationName, "instance_id": p.addr})
	_ = p.srv.Shutdown(ctx)
	p.wg.Wait()
	p.srv = nil
	return err
}

// Serve serves handler as RPC method name, registered with node, until ctx
// ends; then it unregisters. It returns Start's error, or Close's.
func Serve(ctx context.Context, node, name string, handler RPCHandler, opts ...ProviderOption) error {
	p := NewProvider(node, opts...).Handle(name, handler)
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Close()
}

// registration is the register body (the node's registry JSON).
func (p *Provider) registration() map[string]any {
	attrs := map[string]string{}
	if p.exposed {
		attrs["exposed"] = "true"
		if p.partners != "" {
			attrs["partners"] = p.partners
		}
	}
	names := make([]string, 0, len(p.handlers))
	for n := range p.handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	services := make([]map[string]any, 0, len(names))
	for _, n := range names {
		services = append(services, map[string]any{"urn": RPCPathPrefix + n, "kind": "Restful", "proto": "http",
			"codec": "json", "name": n, "timeout": DefaultRPCTimeout.Milliseconds(), "address": p.addr, "lang": "Go", "attrs": attrs})
	}
	return map[string]any{"name": RPCRegistrationName, "kind": "complex", "address": p.addr, "instance_id": p.addr,
		"timestamp": p.ttl.Milliseconds(), "content": map[string]any{"services": services}}
}

func (p *Provider) register(ctx context.Context) error {
	return p.control(ctx, "/v1/interconn/registry/register", p.registration())
}

// control posts body to a registry endpoint of the node.
func (p *Provider) control(ctx context.Context, path string, body any) error {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL(p.node, false)+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", jsonType)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("rpc provider: %s on node %s: %w", path, p.node, err)
	}
	defer resp.Body.Close()
	var r rpcReply
	reply, _ := readAll(resp, 1<<20)
	if json.Unmarshal(reply, &r) != nil || r.Code != ptp.OK {
		return &Error{Code: orCode(r.Code), Message: fmt.Sprintf("%s on node %s: HTTP %d %.300s", path, p.node, resp.StatusCode, reply)}
	}
	return nil
}

func orCode(c ptp.Code) ptp.Code {
	if c == "" || c == ptp.OK {
		return ptp.SystemError
	}
	return c
}

// serveHTTP answers one call: the handler's result, or its error.
func (p *Provider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if tr := r.Header.Get(HeaderTraceID); tr != "" {
		w.Header().Set(HeaderTraceID, tr)
	}
	result, err := p.answer(r)
	status, reply := http.StatusOK, map[string]any{"result": result}
	if err == nil {
		data, merr := json.Marshal(reply)
		if merr == nil {
			writeRPC(w, status, data)
			return
		}
		err = &RemoteError{Type: "json", Message: "result is not JSON: " + merr.Error()}
	}
	status, e := errorReply(err)
	data, _ := json.Marshal(map[string]any{"error": e})
	writeRPC(w, status, data)
}

// answer decodes the call and runs its handler.
func (p *Provider) answer(r *http.Request) (any, error) {
	name, ok := strings.CutPrefix(r.URL.Path, RPCPathPrefix)
	h := p.handlers[name]
	switch {
	case r.Method != http.MethodPost:
		return nil, &Error{Code: ptp.BadRequest, Message: r.Method + " is not POST"}
	case !ok || h == nil:
		return nil, &Error{Code: ptp.NotFound, Message: "this provider has no method " + name}
	}
	var req struct {
		Args map[string]json.RawMessage `json:"args"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, rpcMaxBody))
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &Error{Code: ptp.TooLarge, Message: fmt.Sprintf("body exceeds %d bytes", rpcMaxBody)}
		}
		return nil, &Error{Code: ptp.BadRequest, Message: `body must be {"args": {name: value, ...}}: ` + err.Error()}
	}
	if req.Args == nil {
		req.Args = map[string]json.RawMessage{}
	}
	return h(context.WithValue(r.Context(), traceKey{}, r.Header.Get(HeaderTraceID)), req.Args)
}

type traceKey struct{}

// RPCTraceID is the x-ptp-trace-id of the call an RPCHandler serves.
func RPCTraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

func writeRPC(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", jsonType)
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// RPCArg decodes argument name of args into v (a pointer), or returns the
// E0000000400 the consumer should see.
func RPCArg(args map[string]json.RawMessage, name string, v any) error {
	raw, ok := args[name]
	if !ok {
		return &Error{Code: ptp.BadRequest, Message: "missing argument " + name}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return &Error{Code: ptp.BadRequest, Message: fmt.Sprintf("argument %s: %v", name, err)}
	}
	return nil
}
