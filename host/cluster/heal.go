package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// reconnectWait is the pause between two attempts to reconnect a lost
// connection. nats.go's default (2 s) would keep the node unready for
// seconds after a blip of an embedded or nearby server.
const reconnectWait = 250 * time.Millisecond

// connOptions are the options of every connection of the node, embedded or
// external. A connection that drops reconnects, forever, every
// reconnectWait. Some answers of the server make nats.go close the
// connection for good instead ("maximum control line exceeded" and every
// -ERR it does not know): then the connection is lost (see Lost), and the
// node must stop so that its supervisor starts it afresh — it would
// otherwise answer 500 to every call until restarted.
func (n *NATS) connOptions(cfg Config) []nats.Option {
	return []nats.Option{
		nats.Name("mesh " + cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(reconnectWait),
		nats.ClosedHandler(n.onClosed), nats.DisconnectErrHandler(n.onDisconnect),
		nats.ReconnectHandler(n.onReconnect), nats.ErrorHandler(n.onAsyncError),
	}
}

// onClosed marks the connection lost unless Close closed it.
func (n *NATS) onClosed(nc *nats.Conn) {
	if n.closing.Load() {
		return
	}
	err := nc.LastError()
	if err == nil {
		err = errors.New("closed by the client library")
	}
	n.lostOnce.Do(func() {
		n.lostErr = fmt.Errorf("nats: connection closed for good: %w", err)
		n.logger.Error("nats connection closed for good: the node cannot serve until it is restarted", "err", err.Error())
		close(n.lost)
	})
}

func (n *NATS) onDisconnect(_ *nats.Conn, err error) {
	if !n.closing.Load() {
		n.logger.Warn("nats connection lost: reconnecting", "err", fmt.Sprint(err))
	}
}

func (n *NATS) onReconnect(nc *nats.Conn) {
	n.logger.Info("nats connection restored", "server", nc.ConnectedServerName())
}

func (n *NATS) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	n.logger.Warn("nats error", "err", err.Error(), "subject", subject)
}

// Lost is closed when a connection to NATS has closed for good (not by
// Close); LostErr then says why. A node that sees it must stop.
func (n *NATS) Lost() <-chan struct{} { return n.lost }

// LostErr is why Lost closed; nil while it has not.
func (n *NATS) LostErr() error {
	select {
	case <-n.lost:
		return n.lostErr
	default:
		return nil
	}
}

// connected says whether every connection of the node is up.
func (n *NATS) connected() error {
	if err := n.LostErr(); err != nil {
		return err
	}
	for _, nc := range append([]*nats.Conn{n.Conn}, n.Pool...) {
		if !nc.IsConnected() {
			return fmt.Errorf("nats: not connected (%s)", nc.Status())
		}
	}
	return nil
}
