package host

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// The admin port (Config.AdminListen): a second listener, plain HTTP/1.1
// and h2c, serving the operator's side of the node (host/api admin.go)
// apart from the data port. New binds it, Run serves it, shutdown stops it
// with the data port's HTTP server, and Close closes it.

// listenAdmin binds the admin port when one is configured.
func (h *Host) listenAdmin() error {
	if h.cfg.AdminListen == "" {
		return nil
	}
	ln, err := h.listen(SocketAdmin, h.cfg.AdminListen)
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", h.cfg.AdminListen, err)
	}
	h.adminLn = ln // a TCP listener, so that an upgrade can hand it over (upgrade.go)
	return nil
}

// AdminMaxConns bounds the connections open at once on the admin port: a
// port bound to 0.0.0.0 answers strangers 403, and their connections must
// not take more than this. Each one that sends no request is closed after
// the header timeout.
const AdminMaxConns = 256

// buildAdmin makes the admin port's server around handler (nil: no admin
// port).
func (h *Host) buildAdmin(handler http.Handler, protocols *http.Protocols) {
	if handler == nil || h.adminLn == nil {
		return
	}
	h.admin = &http.Server{Handler: handler, Protocols: protocols,
		ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20, IdleTimeout: 5 * time.Minute}
}

// serveAdmin serves the admin port until shutdown; it sends errc what made
// it stop, unless that was shutdown.
func (h *Host) serveAdmin(errc chan<- error) {
	if h.admin == nil {
		return
	}
	h.log.Info("mesh admin port serving", "admin_listen", h.adminLn.Addr().String())
	go func() {
		if err := h.admin.Serve(netutil.LimitListener(h.adminLn, AdminMaxConns)); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin port: %w", err)
		}
	}()
}

// AdminAddr is the address of the admin port; nil without one.
func (h *Host) AdminAddr() net.Addr {
	if h.adminLn == nil {
		return nil
	}
	return h.adminLn.Addr()
}
