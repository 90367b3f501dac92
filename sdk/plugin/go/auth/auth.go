// Package auth is the Go kit for Mesh auth policies: the request and
// decision documents of the authorize export, and the export itself.
//
// A policy is a main package that registers its function in an init
// function (a reactor's main is never run):
//
//	package main
//
//	import "github.com/ppcmesh/mesh/sdk/plugin/go/auth"
//
//	func init() { auth.Register(policy) }
//
//	func policy(r auth.Request) (auth.Decision, error) {
//		if r.SourceNode == "node-b" {
//			return auth.Allow(), nil
//		}
//		return auth.Deny("only node-b may call"), nil
//	}
//
//	func main() {}
//
// A returned error is a failure of the policy, not a refusal: the node
// refuses the request (or admits it when the plugin is installed fail-open)
// and logs the error.
package auth

import (
	"errors"

	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
)

// Request is one request's metadata, as the node saw it (the host's
// plugin.AuthRequest).
type Request struct {
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

// The callers.
const (
	CallerContainer = "container"
	CallerPartner   = "partner"
)

// Decision is the policy's answer (the host's plugin.AuthDecision).
type Decision struct {
	Allow   bool              `json:"allow"`
	Reason  string            `json:"reason,omitempty"`  // shown to a refused caller
	Headers map[string]string `json:"headers,omitempty"` // added to an admitted push's metadata
	TTLms   int64             `json:"ttl_ms,omitempty"`  // how long to cache; 0 uses the plugin's cache TTL, <0 disables caching
}

// Allow admits the request.
func Allow() Decision { return Decision{Allow: true} }

// Deny refuses the request, telling the caller reason.
func Deny(reason string) Decision { return Decision{Reason: reason} }

// Policy decides one request.
type Policy func(Request) (Decision, error)

// errNoPolicy is the error of a module that registered no policy.
var errNoPolicy = errors.New("auth: no policy registered (call auth.Register in an init function)")

// policy is the registered Policy.
var policy Policy

// Register makes p the instance's policy. Call it from an init function.
func Register(p Policy) { policy = p }

// serve is the body of the authorize export: it runs the registered
// policy over the call's input.
func serve() int32 {
	if policy == nil {
		return pdk.HandleJSON(func(Request) (Decision, error) {
			return Decision{}, errNoPolicy
		})
	}
	return pdk.HandleJSON(policy)
}
