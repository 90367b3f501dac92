// Package cluster gives a node its NATS: by default an embedded nats-server
// with JetStream running in the same process, its store under the node's
// home, reached through an in-process connection with no client port open.
// Queues and state live in that JetStream; later the same package joins
// replicas into a cluster or points them at an external one.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says how to reach NATS.
type Config struct {
	// StoreDir is the JetStream store directory of the embedded server.
	StoreDir string
	// ClientListen, when set (host:port), opens a NATS client port on the
	// embedded server, e.g. for the nats CLI. Empty means no port at all.
	ClientListen string
	// MaxPayload is the largest NATS message, headers included (bytes).
	MaxPayload int32
	// SyncAlways makes JetStream fsync every write (survives power loss, slower).
	// Without it writes reach the OS before they are acknowledged, which
	// survives a crash of the process.
	SyncAlways bool
	// Name names the embedded server in logs and cluster views.
	Name string
	// Pool is how many further connections to open for hot-path requests;
	// the server handles each connection's traffic in order. Default 2.
	Pool int
}

// NATS is a running connection to NATS, and the embedded server if any.
type NATS struct {
	Server *server.Server // nil when external
	Conn   *nats.Conn
	Pool   []*nats.Conn // further connections to spread requests over
	JS     jetstream.JetStream
}

// DefaultMaxPayload is the embedded server's max_payload: within the 8 MiB
// that NATS recommends, large enough that 1 MiB payloads need no chunking.
const DefaultMaxPayload = 8 << 20

// Start starts the embedded server and connects to it.
func Start(ctx context.Context, cfg Config) (*NATS, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("nats: store directory is required")
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		// The default 64 MiB pending limit stalls fast producers of 4 MiB chunks.
		MaxPending: 256 << 20,
		NoSigs:     true,
		NoLog:      true,
		SyncAlways: cfg.SyncAlways,
		DontListen: cfg.ClientListen == "",
	}
	if cfg.ClientListen != "" {
		host, port, err := splitHostPort(cfg.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("nats client listen %q: %w", cfg.ClientListen, err)
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s")
	}
	n := &NATS{Server: srv}
	connect := func() (*nats.Conn, error) {
		return nats.Connect("", nats.InProcessServer(srv), nats.Name("mesh"), nats.MaxReconnects(-1))
	}
	if n.Conn, err = connect(); err != nil {
		n.Close()
		return nil, fmt.Errorf("connect embedded nats: %w", err)
	}
	if cfg.Pool == 0 {
		cfg.Pool = 2
	}
	for range cfg.Pool {
		nc, err := connect()
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("connect embedded nats: %w", err)
		}
		n.Pool = append(n.Pool, nc)
	}
	if n.JS, err = jetstream.New(n.Conn); err != nil {
		n.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := n.waitJetStream(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// waitJetStream returns once the JetStream API answers.
func (n *NATS) waitJetStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		_, err := n.JS.AccountInfo(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ready reports whether this replica can serve: connected, and JetStream
// answering.
func (n *NATS) Ready(ctx context.Context) error {
	if !n.Conn.IsConnected() {
		return errors.New("nats: not connected")
	}
	if n.Server != nil && !n.Server.JetStreamEnabled() {
		return errors.New("nats: jetstream disabled")
	}
	return nil
}

// Close flushes and closes the connection, then stops the embedded server
// and waits for it to finish writing its store.
func (n *NATS) Close() {
	for _, nc := range append([]*nats.Conn{n.Conn}, n.Pool...) {
		if nc != nil {
			_ = nc.Flush()
			nc.Close()
		}
	}
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
	}
}
