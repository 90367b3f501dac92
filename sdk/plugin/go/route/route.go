// Package route is the Go kit for Mesh route handlers: the request and
// response documents of the handle export, and the export itself.
//
// A handler is a main package that registers its function in an init
// function (a reactor's main is never run):
//
//	package main
//
//	import "github.com/ppcmesh/mesh/sdk/plugin/go/route"
//
//	func init() { route.Register(handle) }
//
//	func handle(r route.Request) (route.Response, error) {
//		if r.Path == "/hello" {
//			return route.Respond(200, "hello\n"), nil
//		}
//		return route.Next(), nil
//	}
//
//	func main() {}
//
// The node calls the handler for the path prefixes it was installed with;
// Next hands a request back to the node.
package route

import (
	"errors"
	"strings"

	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
)

// Request is one HTTP request or invoke (the host's plugin.RouteRequest).
type Request struct {
	Method      string            `json:"method"`                 // HTTP method
	Path        string            `json:"path"`                   // URL path, or the x-ptp-uri of an invoke
	Query       string            `json:"query,omitempty"`        // raw query
	Headers     map[string]string `json:"headers,omitempty"`      // lower-case names, first value
	Body        []byte            `json:"body,omitempty"`         // base64 in JSON
	RemoteAddr  string            `json:"remote_addr,omitempty"`  // the caller's address
	TLSIdentity string            `json:"tls_identity,omitempty"` // partner node id proven by certificate; empty for containers
}

// Header returns the first value of the header name, in any case.
func (r Request) Header(name string) string { return r.Headers[strings.ToLower(name)] }

// The actions.
const (
	ActionRespond = "respond" // answer with Status, Headers, Body
	ActionForward = "forward" // pass the request to Target
	ActionNext    = "next"    // not mine: the node handles it as usual
)

// Response is the handler's answer (the host's plugin.RouteResponse).
type Response struct {
	Action  string            `json:"action"`
	Status  int               `json:"status,omitempty"`  // respond: HTTP status, default 200
	Headers map[string]string `json:"headers,omitempty"` // respond: reply headers; forward: headers to add
	Body    []byte            `json:"body,omitempty"`    // respond: reply body (base64 in JSON)
	Target  string            `json:"target,omitempty"`  // forward: "http://host:port" of a local upstream, or "node:<id>" of a partner
}

// Respond answers the request with status and body.
func Respond(status int, body string) Response {
	return Response{Action: ActionRespond, Status: status, Body: []byte(body)}
}

// Forward passes the request to target: "http://host:port" of a local
// upstream, or "node:<id>" of a partner.
func Forward(target string) Response { return Response{Action: ActionForward, Target: target} }

// Next hands the request back to the node.
func Next() Response { return Response{Action: ActionNext} }

// Handler answers one request.
type Handler func(Request) (Response, error)

// errNoHandler is the error of a module that registered no handler.
var errNoHandler = errors.New("route: no handler registered (call route.Register in an init function)")

// handler is the registered Handler.
var handler Handler

// Register makes h the instance's handler. Call it from an init function.
func Register(h Handler) { handler = h }

// serve is the body of the handle export: it runs the registered handler
// over the call's input.
func serve() int32 {
	if handler == nil {
		return pdk.HandleJSON(func(Request) (Response, error) { return Response{}, errNoHandler })
	}
	return pdk.HandleJSON(handler)
}
