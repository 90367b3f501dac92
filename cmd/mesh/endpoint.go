package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host/network"
)

// endpoint is the running node a client command talks to: --addr, as
// host:port (plain HTTP) or https://host:port (TLS, the node's certificate
// checked against --ca), and whether a token may cross plain HTTP.
type endpoint struct {
	addr  string
	ca    string
	force bool

	tr *http.Transport
}

// endpointFlags adds --addr, --ca and --plaintext-token to f.
func endpointFlags(f *pflag.FlagSet) *endpoint {
	e := &endpoint{}
	f.StringVar(&e.addr, "addr", nodeAddr(), addrUsage+"; https://host:port for TLS")
	f.StringVar(&e.ca, "ca", os.Getenv("MESH_CA"), "PEM file of the node's root certificate, to check it over https:// (env MESH_CA)")
	f.BoolVar(&e.force, "plaintext-token", false, "send a token over plain http:// to a node that is not on this machine (it can be read on the way)")
	return e
}

// url is the address of path on the node.
func (e *endpoint) url(path string) string {
	if e.isTLS() {
		return strings.TrimSuffix(e.addr, "/") + path
	}
	return "http://" + strings.TrimPrefix(e.addr, "http://") + path
}

func (e *endpoint) isTLS() bool { return strings.HasPrefix(e.addr, "https://") }

// hostPort is the node's host:port, without a scheme.
func (e *endpoint) hostPort() string {
	_, hp, ok := strings.Cut(e.addr, "://")
	if !ok {
		return e.addr
	}
	return hp
}

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
