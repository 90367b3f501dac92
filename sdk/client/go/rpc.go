package meshclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/ppcmesh/mesh/host/ptp"
)

// Service RPC through the node's service registry, the wire format of
// docs/rpc.md, shared with the Python SDK's @spi/@mpi/@mps: a call is one
// POST of {"args": {...}} to /mesh-rpc/<name> on the caller's own node,
// which routes it to a registered provider here or at a woven partner.
const (
	// RPCPathPrefix is the path of every RPC method before its name.
	RPCPathPrefix = "/mesh-rpc/"
	// RPCRegistrationName is the registration every provider registers its
	// methods under (one instance per provider address).
	RPCRegistrationName = "mesh-rpc"
	// DefaultNode is the node a call goes to when neither WithNode nor
	// MESH_ADDRESS names one.
	DefaultNode = "127.0.0.1:7304"
	rpcMaxReply = 64 << 20 // largest reply body a consumer reads
)

// RemoteError is a provider's own failure (PTP code E0000000500): its
// handler returned an error, or its Python method raised. Type is the
// exception's class (Python) or the error's Go type; errors.Is(err,
// &Error{Code: ptp.SystemError}) and CodeOf see its code.
type RemoteError struct {
	Name    string // the RPC name called
	Type    string
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s: %s raised %s", ptp.SystemError, e.Name, e.Message)
}

// Unwrap is the *Error of the failure's code.
func (e *RemoteError) Unwrap() error { return &Error{Code: ptp.SystemError, Message: e.Message} }

// CallOption configures one Call.
type CallOption func(*callOptions)

type callOptions struct {
	node             string
	targetNode, inst string
	traceID          string
	hc               *http.Client
}

// WithNode sends the call to the node at addr (host:port) instead of
// MESH_ADDRESS (its first entry) or DefaultNode.
func WithNode(addr string) CallOption { return func(o *callOptions) { o.node = addr } }

// WithTarget routes the call to the provider of woven partner node (or of
// institution inst): x-ptp-target-node-id / x-ptp-target-inst-id.
func WithTarget(node, inst string) CallOption {
	return func(o *callOptions) { o.targetNode, o.inst = node, inst }
}

// WithTraceID sends x-ptp-trace-id: id (default: none).
func WithTraceID(id string) CallOption { return func(o *callOptions) { o.traceID = id } }

// WithRPCClient sends the call through c (TLS to the node, a timeout).
func WithRPCClient(c *http.Client) CallOption { return func(o *callOptions) { o.hc = c } }

var (
	rpcClientOnce sync.Once
	rpcClient     *http.Client
)

// defaultRPCClient is the keep-alive client calls share unless told.
func defaultRPCClient() *http.Client {
	rpcClientOnce.Do(func() { rpcClient = newHTTPClient(defaultOptions()) })
	return rpcClient
}

// nodeAddress is addr, else the first of MESH_ADDRESS, else DefaultNode.
func nodeAddress(addr string) string {
	if addr == "" {
		addr, _, _ = strings.Cut(os.Getenv("MESH_ADDRESS"), ",")
	}
	addr = strings.TrimSpace(addr)
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
	}
	if addr == "" {
		return DefaultNode
	}
	return strings.TrimSuffix(addr, "/")
}

// Call calls RPC method name with named args and decodes its result into
// result (a pointer; nil discards it). ctx bounds the call. A failure the
// node or the provider reports is an *Error with its PTP code (E0000000404:
// nobody registered name; 602: no instance answers; 614: the partner does
// not expose it; 618: not woven), or a *RemoteError when the provider
// failed; a node that cannot be reached gives the transport's error.
func Call(ctx context.Context, name string, args map[string]any, result any, opts ...CallOption) error {
	o := callOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if args == nil {
		args = map[string]any{}
	}
	body, err := json.Marshal(rpcRequest{Args: args})
	if err != nil {
		return &Error{Code: ptp.BadRequest, Message: fmt.Sprintf("%s: arguments are not JSON: %v", name, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL(nodeAddress(o.node), false)+RPCPathPrefix+name, bytes.NewReader(body))
	if err != nil {
		return &Error{Code: ptp.BadRequest, Message: fmt.Sprintf("%s: %v", name, err)}
	}
	req.Header.Set("Content-Type", jsonType)
	req.Header.Set("Accept", jsonType)
	for k, v := range map[string]string{HeaderTargetNodeID: o.targetNode, HeaderTargetInstID: o.inst, HeaderTraceID: o.traceID} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	hc := o.hc
	if hc == nil {
		hc = defaultRPCClient()
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("rpc %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("rpc %s: node at %s: %w", name, nodeAddress(o.node), err)
	}
	defer resp.Body.Close()
	data, err := readAll(resp, rpcMaxReply)
	if err != nil {
		return fmt.Errorf("rpc %s: reading the reply: %w", name, err)
	}
	return decodeRPCReply(name, resp.StatusCode, data, result)
}

// rpcRequest is the body of a call.
type rpcRequest struct {
	Args map[string]any `json:"args"`
}

// rpcReply is a reply: the provider's {"result"} or {"error"}, or the
// node's own {code, message}.
type rpcReply struct {
	Result  json.RawMessage `json:"result"`
	Error   *rpcError       `json:"error"`
	Code    ptp.Code        `json:"code"`
	Message string          `json:"message"`
}

// rpcError is the error object of a provider's reply.
type rpcError struct {
	Code    ptp.Code `json:"code"`
	Message string   `json:"message"`
	Type    string   `json:"type,omitempty"`
}

// decodeRPCReply decodes a reply's result into result, or returns its error.
func decodeRPCReply(name string, status int, data []byte, result any) error {
	var r rpcReply
	if err := json.Unmarshal(data, &r); err != nil {
		return &Error{Code: ptp.SystemError, Message: fmt.Sprintf("%s: HTTP %d with a body that is not a JSON object: %.200q", name, status, data)}
	}
	switch {
	case status == http.StatusOK && r.Error == nil && r.Result != nil:
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(r.Result, result); err != nil {
			return &Error{Code: ptp.CodecError, Message: fmt.Sprintf("%s: result %.200s does not decode into %T: %v", name, r.Result, result, err)}
		}
		return nil
	case r.Error != nil && (r.Error.Code == ptp.SystemError || r.Error.Code == ""):
		return &RemoteError{Name: name, Type: r.Error.Type, Message: r.Error.Message}
	case r.Error != nil:
		return &Error{Code: r.Error.Code, Message: name + ": " + r.Error.Message}
	case r.Code != "" && r.Code != ptp.OK:
		return &Error{Code: r.Code, Message: name + ": " + r.Message}
	}
	return &Error{Code: ptp.SystemError, Message: fmt.Sprintf("%s: HTTP %d without a result: %.200q", name, status, data)}
}

// errorReply is the reply of a handler's failure: its code when it is an
// *Error, else E0000000500 with its Go type.
func errorReply(err error) (int, rpcError) {
	var pe *Error
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		return ptp.SystemError.HTTP(), rpcError{Code: ptp.SystemError, Message: re.Message, Type: re.Type}
	case errors.As(err, &pe):
		return pe.Code.HTTP(), rpcError{Code: pe.Code, Message: pe.Message, Type: "Error"}
	}
	return ptp.SystemError.HTTP(), rpcError{Code: ptp.SystemError, Message: err.Error(), Type: fmt.Sprintf("%T", err)}
}
