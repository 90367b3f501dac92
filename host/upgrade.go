package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The roles of the listening sockets a node hands to its successor in a
// smooth upgrade (Config.Inherit, Host.Sockets).
const (
	SocketData  = "data"  // the gRPC+HTTP port, Config.Listen
	SocketAdmin = "admin" // the admin port, Config.AdminListen
)

// lockPoll is how often New retries the home's lock while Config.LockWait
// lets it wait.
const lockPoll = 10 * time.Millisecond

// lingerMax bounds how long a handing-off node waits for its HTTP/1
// keep-alive connections to close after their next request (see linger).
const lingerMax = 500 * time.Millisecond

// HandOffRefusal is why a node with this configuration cannot hand its
// sockets to a new process, or nil when it can.
func (c *Config) HandOffRefusal() error {
	switch {
	case c.NATSListen != "":
		return errors.New("the embedded NATS client port (--nats-listen) cannot be handed to a new process: restart the node instead (mesh stop, then mesh start), or run it without --nats-listen")
	case c.ClusterListen != "" || len(c.ClusterPeers) > 0:
		return errors.New("a replica of a cluster is not upgraded in place: restart it (mesh stop, then mesh start with the new binary); the other replicas serve meanwhile")
	}
	return nil
}

// listen is the listening socket for role: the one the previous process
// handed over (Config.Inherit), else a new one on addr.
func (h *Host) listen(role, addr string) (net.Listener, error) {
	if ln, ok := h.cfg.Inherit[role]; ok {
		delete(h.cfg.Inherit, role) // served once; Close closes it
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// closeInherited closes the handed-over sockets New did not serve (a
// successor started with other addresses than its predecessor).
func (h *Host) closeInherited() {
	for role, ln := range h.cfg.Inherit {
		_ = ln.Close()
		delete(h.cfg.Inherit, role)
	}
}

// Sockets are copies of the node's listening sockets by role, to hand to a
// successor process (the caller closes them once it has started). Closing
// them does not close the node's.
func (h *Host) Sockets() (map[string]*os.File, error) {
	files := map[string]*os.File{}
	for role, ln := range map[string]net.Listener{SocketData: h.ln, SocketAdmin: h.adminLn} {
		if ln == nil {
			continue
		}
		tl, ok := ln.(*net.TCPListener)
		if !ok {
			closeFiles(files)
			return nil, fmt.Errorf("the %s socket is a %T: only TCP sockets can be handed over", role, ln)
		}
		f, err := dupSocket(tl)
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("copy the %s socket: %w", role, err)
		}
		files[role] = f
	}
	return files, nil
}

// dupSocket is a new descriptor of tl's socket, close-on-exec, as an
// *os.File the runtime has not touched. Not TCPListener.File: exec makes a
// file it hands a child blocking (through Fd), and O_NONBLOCK belongs to
// the open file description that the copy shares with the node's listener,
// so the node's accept(2) would block and its Close would hang until a
// connection came.
func dupSocket(tl *net.TCPListener) (*os.File, error) {
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	return os.NewFile(uintptr(fd), "socket"), nil
}

func closeFiles(files map[string]*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// HandOff makes the node's coming stop (Run's ctx ending) a handoff to a
// successor serving the same sockets: besides what every stop does, the
// connections already accepted reach the servers rather than being closed
// unread, and HTTP/1 keep-alive connections are closed each after its next
// request, whose answer says Connection: close, for up to lingerMax, before
// the idle ones left are closed. Their clients then open new connections, which the
// successor serves; a client writing on a connection at the instant the
// server closes it (idle since before the handoff, for all of lingerMax)
// would see it reset, a race HTTP/1 cannot close.
func (h *Host) HandOff() { h.keep.handingOff.Store(true) }

// stopAccepting closes the node's port; on a handoff the connections
// already accepted are first let through to the servers (the successor
// takes the rest from the socket's queue).
func (h *Host) stopAccepting() {
	if h.keep.handingOff.Load() {
		_ = h.mux.Drain(h.lingerFor())
		return
	}
	_ = h.mux.Close()
}

// lingerFor bounds each wait of a handoff's stop.
func (h *Host) lingerFor() time.Duration { return min(lingerMax, h.cfg.ShutdownTimeout) }

// linger is the part of a handoff's stop that HandOff describes; nothing on
// a plain stop.
func (h *Host) linger() {
	if !h.keep.handingOff.Load() {
		return
	}
	// Until none is open, not merely none idle: a connection whose answer
	// went out just before HandOff, without Connection: close, goes idle
	// after it; nor one still to send its first request.
	deadline := time.Now().Add(h.lingerFor())
	for h.keep.unsettled() > 0 && time.Now().Before(deadline) {
		time.Sleep(lockPoll)
	}
	if n := h.keep.idleHTTP1(); n > 0 {
		h.log.Warn("handoff: HTTP/1 keep-alive connections left idle; closing them", "conns", n, "remotes", h.keep.idleRemotes())
	}
}

// lockHomeWithin takes the home's lock, waiting up to wait while another
// process holds it (the previous process of an upgrade, draining).
func lockHomeWithin(home string, wait time.Duration) (*homeLock, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := lockHome(home)
		if !errors.Is(err, errHomeLocked) || !time.Now().Before(deadline) {
			return l, err
		}
		time.Sleep(lockPoll)
	}
}

// inUseError says which process holds a home; it is errHomeLocked.
type inUseError struct{ msg string }

func (e inUseError) Error() string        { return e.msg }
func (e inUseError) Is(target error) bool { return target == errHomeLocked }
