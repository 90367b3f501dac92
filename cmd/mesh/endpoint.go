package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host/network"
)

// endpoint is the running node a client command talks to: --addr (see
// parseAddr; https:// for TLS, the node's certificate checked against --ca),
// and whether a token may cross plain HTTP.
type endpoint struct {
	addr  string
	ca    string
	force bool

	tr *http.Transport
}

// endpointFlags adds --addr, --ca and --plaintext-token to f.
func endpointFlags(f *pflag.FlagSet) *endpoint {
	e := &endpoint{addr: nodeAddr()}
	f.Var(addrFlag{&e.addr}, "addr", addrUsage+"; https://host:port for TLS")
	f.StringVar(&e.ca, "ca", os.Getenv("MESH_CA"), "PEM file of the node's root certificate, to check it over https:// (env MESH_CA)")
	f.BoolVar(&e.force, "plaintext-token", false, "send a token over plain http:// to a node that is not on this machine (it can be read on the way)")
	return e
}

// nodeURL is a node address as parseAddr reads it.
type nodeURL struct {
	scheme   string // http or https
	hostPort string
}

// parseAddr reads a node address: host:port or http://host:port (plain
// HTTP), https://host:port (TLS). The port is required: a bare host would
// otherwise dial port 80, where no node listens by default (7304 does).
func parseAddr(s string) (nodeURL, error) {
	u := nodeURL{scheme: "http", hostPort: strings.TrimSpace(s)}
	if scheme, rest, ok := strings.Cut(u.hostPort, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return u, fmt.Errorf("node address %q: scheme %q: want host:port, http://host:port or https://host:port", s, scheme)
		}
		u.scheme, u.hostPort = scheme, strings.TrimSuffix(rest, "/")
	}
	if strings.ContainsAny(u.hostPort, "/?#@") {
		return u, fmt.Errorf("node address %q: want host:port, without a path, query or user", s)
	}
	host, port, err := net.SplitHostPort(u.hostPort)
	if err != nil {
		return u, fmt.Errorf("node address %q has no port: give host:port (a node listens on 7304 unless --listen says otherwise)", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return u, fmt.Errorf("node address %q: want host:port with a host and a port from 1 to 65535", s)
	}
	return u, nil
}

// addrFlag is a --addr flag: checked by parseAddr when given.
type addrFlag struct{ addr *string }

// String is the address held.
func (a addrFlag) String() string {
	if a.addr == nil {
		return ""
	}
	return *a.addr
}

// Set checks v and keeps it.
func (a addrFlag) Set(v string) error {
	if _, err := parseAddr(v); err != nil {
		return err
	}
	*a.addr = v
	return nil
}

// Type names the flag's value in help.
func (addrFlag) Type() string { return "address" }

// parsed is e.addr read by parseAddr (a default from MESH_ADDRESS is checked
// here, when it is used).
func (e *endpoint) parsed() (nodeURL, error) { return parseAddr(e.addr) }

// url is the address of path on the node; check parsed first for the error
// of a bad address.
func (e *endpoint) url(path string) string {
	u, _ := e.parsed()
	return u.scheme + "://" + u.hostPort + path
}

func (e *endpoint) isTLS() bool { u, _ := e.parsed(); return u.scheme == "https" }

// hostPort is the node's host:port, without a scheme.
func (e *endpoint) hostPort() string { u, _ := e.parsed(); return u.hostPort }

// checkToken refuses to send a token in plaintext to another machine
// unless forced.
func (e *endpoint) checkToken(flag string) error {
	if e.isTLS() || e.force {
		return nil
	}
	host, _, err := net.SplitHostPort(e.hostPort())
	if err != nil {
		host = e.hostPort()
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("refusing to send the %s in plaintext to %s: use --addr https://%s (with --ca), or --plaintext-token if the network is trusted",
		flag, e.addr, e.hostPort())
}

// transport is the HTTP transport to the node: TLS trusting --ca (or the
// system roots) for https:// addresses.
func (e *endpoint) transport() (*http.Transport, error) {
	if e.tr != nil {
		return e.tr, nil
	}
	if _, err := e.parsed(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if e.isTLS() {
		cfg := network.TLSConfig()
		if e.ca != "" {
			pem, err := os.ReadFile(e.ca)
			if err != nil {
				return nil, fmt.Errorf("--ca: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca %s holds no PEM certificate", e.ca)
			}
		}
		tr.TLSClientConfig = cfg
	}
	e.tr = tr
	return tr, nil
}
