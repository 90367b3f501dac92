package portmux

import (
	"net/http"
	"strings"

	"golang.org/x/net/http2"
)

// Which connections get grpc-go's native transport. A connection is
// decided once, at its first request, and only a connection that will stay
// pure gRPC may go native: grpc-go's transport answers anything else with
// 415. So the rule is conservative: native only when the first request is
// gRPC from a dedicated gRPC library talking to us directly. Every other
// HTTP/2 connection goes to the HTTP server, where Mixed routes each
// request by its content-type. A wrong "mixed" costs speed; a wrong
// "native" costs every later HTTP request on the connection.

// grpcLibraryAgent prefixes the user-agent of the gRPC libraries whose
// connections carry gRPC only: grpc-go, grpc-java, grpc-python, grpc-c,
// grpc-dotnet, grpc-node-js ("grpc-go/1.65.0", "grpc-python/1.62 …").
const grpcLibraryAgent = "grpc-"

// proxyHeaders are set by HTTP proxies on what they forward. A proxy may
// pool one connection for all its clients' requests, gRPC and HTTP alike,
// and forwards each client's user-agent untouched: the older Go Mesh's
// proxy (Traefik v2) sends its containers' "grpc-go/…" user-agent beside
// X-Forwarded-* and X-Real-Ip on the very connection where it later sends
// JSON. A gRPC library alone sends none of these.
var proxyHeaders = []string{"forwarded", "via", "x-forwarded-for", "x-forwarded-host",
	"x-forwarded-proto", "x-forwarded-server", "x-real-ip"}

// nativeGRPC reports whether the connection whose first request carries
// h may be given to grpc-go's native transport.
func nativeGRPC(h *http2.MetaHeadersFrame) bool {
	var grpcType, library bool
	for _, f := range h.RegularFields() {
		switch {
		case f.Name == "content-type":
			grpcType = isGRPCType(f.Value)
		case f.Name == "user-agent":
			library = strings.HasPrefix(f.Value, grpcLibraryAgent)
		case isProxyHeader(f.Name):
			return false
		}
	}
	return grpcType && library
}

func isProxyHeader(name string) bool {
	for _, p := range proxyHeaders {
		if name == p {
			return true
		}
	}
	return false
}

// isGRPCType reports whether a content-type is gRPC's: "application/grpc"
// alone or with a "+codec" or ";params" suffix (not "application/grpc-web").
func isGRPCType(ct string) bool {
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// Mixed returns the handler for the HTTP server behind a mux: HTTP/2
// requests of content-type application/grpc go to grpcH (a
// grpc.Server, whose ServeHTTP serves them), everything else to httpH.
// It is what lets one HTTP/2 connection carry both kinds.
func Mixed(grpcH, httpH http.Handler) http.Handler { return mixed{grpc: grpcH, http: httpH} }

type mixed struct{ grpc, http http.Handler }

func (m mixed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && isGRPCType(r.Header.Get("Content-Type")) {
		m.grpc.ServeHTTP(w, r)
		return
	}
	m.http.ServeHTTP(w, r)
}
