package meshtest

import (
	"net"
	"testing"
)

// NonLoopbackIP is an IPv4 address of this machine outside 127.0.0.0/8,
// to call a node from "another machine" over a real socket (a client
// dialling from it, to a node listening on 0.0.0.0, is not loopback). The
// test skips on a machine with loopback alone.
func NonLoopbackIP(tb testing.TB) net.IP {
	tb.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		tb.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP
		}
	}
	tb.Skip("this machine has no address but loopback: a remote caller cannot be presented")
	return nil
}
