// Package loopback tells whether an address names only this machine: the
// one check behind "loopback callers and addresses need no token".
package loopback

import "net"

// Is reports whether addr — a host, an IP, or either with a :port — names
// only this machine: "localhost" or an IP in 127.0.0.0/8 or ::1.
func Is(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
