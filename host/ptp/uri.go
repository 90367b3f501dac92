package ptp

import (
	"net/url"
	"strings"
)

// Method is a container-API operation named by an x-ptp-uri.
type Method string

// The container-API methods.
const (
	Push    Method = "push"
	Pop     Method = "pop"
	Peek    Method = "peek"
	Release Method = "release"
)

// Form says how the inner request of an invoke is encoded.
type Form int

// The encodings of an inner request.
const (
	FormHTTP Form = iota // JSON body of /v1/interconn/chan/...
	FormGRPC             // protobuf of org.ppc.ptp.PrivateTransferTransport/...
)

// ParseURI reads an x-ptp-uri in any of the dialects met in the field — a bare
// path, grpcs://any-host/org.ppc.ptp.PrivateTransferTransport/push, or
// https://any-host/v1/interconn/chan/push — and routes on the path only.
// ok is false when the path names no container-API method.
func ParseURI(uri string) (m Method, f Form, ok bool) {
	path := uri
	if i := strings.Index(uri, "://"); i >= 0 {
		if u, err := url.Parse(uri); err == nil {
			path = u.Path
		} else {
			rest := uri[i+3:]
			j := strings.IndexByte(rest, '/')
			if j < 0 {
				return "", 0, false
			}
			path = rest[j:]
		}
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	path = "/" + strings.Trim(path, "/")
	dir, name := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
	m = Method(strings.ToLower(name))
	switch m {
	case Push, Pop, Peek, Release:
	default:
		return "", 0, false
	}
	switch dir {
	case "/v1/interconn/chan":
		return m, FormHTTP, true
	case "/org.ppc.ptp.PrivateTransferTransport", "/org.ppc.grpc_ptp.PrivateTransferTransport":
		return m, FormGRPC, true
	}
	return "", 0, false
}
