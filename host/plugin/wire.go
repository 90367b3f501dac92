package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The JSON documents the Extism kinds exchange with the host. The Go SDK
// (sdk/plugin/go) declares the same shapes for guests; wit/ABI.md documents them.

// AuthRequest is the input of an auth policy's authorize: one request's
// metadata, as the node saw it.
type AuthRequest struct {
	Method      string `json:"method"`                 // push, pop, peek, release; for a route handler's path, its HTTP method (GET, POST, ...)
	Session     string `json:"session"`                // x-ptp-session-id
	Topic       string `json:"topic,omitempty"`        // the message topic
	Path        string `json:"path,omitempty"`         // a route handler's path: the URL path or x-ptp-uri; empty for chan calls
	SourceNode  string `json:"source_node,omitempty"`  // the calling node: the partner named by its certificate, else this node
	TargetNode  string `json:"target_node,omitempty"`  // x-ptp-target-node-id
	Token       string `json:"token,omitempty"`        // x-ptp-token
	RemoteAddr  string `json:"remote_addr,omitempty"`  // the caller's address
	TLSIdentity string `json:"tls_identity,omitempty"` // the partner node id proven by its client certificate; empty for containers
	Caller      string `json:"caller"`                 // "container" or "partner"
	Now         int64  `json:"now"`                    // the host's clock, Unix seconds
}

// AuthDecision is the output of authorize.
type AuthDecision struct {
	Allow   bool              `json:"allow"`
	Reason  string            `json:"reason,omitempty"`  // shown to a refused caller
	Headers map[string]string `json:"headers,omitempty"` // added to an admitted push's metadata
	TTLms   int64             `json:"ttl_ms,omitempty"`  // how long to cache; 0 uses the plugin's cache TTL, <0 disables caching
}

// RouteRequest is the input of a route handler's handle.
type RouteRequest struct {
	Method      string            `json:"method"`                 // HTTP method
	Path        string            `json:"path"`                   // URL path, or the x-ptp-uri of an invoke
	Query       string            `json:"query,omitempty"`        // raw query
	Headers     map[string]string `json:"headers,omitempty"`      // lower-case names, first value
	Body        []byte            `json:"body,omitempty"`         // base64 in JSON
	RemoteAddr  string            `json:"remote_addr,omitempty"`  // the caller's address
	TLSIdentity string            `json:"tls_identity,omitempty"` // partner node id proven by certificate; empty for containers
}

// The route handler's actions.
const (
	ActionRespond = "respond" // answer with Status, Headers, Body
	ActionForward = "forward" // pass the request to Target
	ActionNext    = "next"    // not mine: the node handles it as usual
)

// RouteResponse is the output of handle.
type RouteResponse struct {
	Action  string            `json:"action"`
	Status  int               `json:"status,omitempty"`  // respond: HTTP status, default 200
	Headers map[string]string `json:"headers,omitempty"` // respond: reply headers; forward: headers to add
	Body    []byte            `json:"body,omitempty"`    // respond: reply body (base64 in JSON)
	Target  string            `json:"target,omitempty"`  // forward: "http://host:port" of a local upstream, or "node:<id>" of a partner
}

// decodeDecision reads an auth policy's answer.
func decodeDecision(out []byte) (AuthDecision, error) {
	var d AuthDecision
	var fields map[string]json.RawMessage
	err := json.Unmarshal(out, &fields) // an object (null decodes to a nil map)
	if err == nil && fields == nil {
		err = errors.New("null")
	}
	if err == nil {
		err = json.Unmarshal(out, &d)
	}
	if err != nil {
		return AuthDecision{}, fmt.Errorf("answered something that is not an auth decision (JSON {\"allow\": bool, ...}): %v", err)
	}
	// encoding/json matches names regardless of case: only "allow" itself
	// admits.
	if _, exact := fields["allow"]; d.Allow && !exact {
		return AuthDecision{}, errors.New(`answered an auth decision without "allow" (names are case-sensitive)`)
	}
	return d, nil
}

// decodeRouteResponse reads route handler name's answer and checks it names
// an action the node can take.
func decodeRouteResponse(name string, out []byte) (RouteResponse, error) {
	var resp RouteResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return RouteResponse{}, fmt.Errorf("route handler %s answered something that is not a route response: %v", name, err)
	}
	if err := checkRouteResponse(name, resp); err != nil {
		return RouteResponse{}, err
	}
	return resp, nil
}
