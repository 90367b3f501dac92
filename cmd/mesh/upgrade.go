package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/handoff"
)

// upgradeSignal makes a node hand its sockets to the binary now at the path
// it was started from (a smooth upgrade). SIGUSR2, as nginx's binary
// upgrade: SIGHUP also comes from a closed terminal, and means "reload the
// configuration" to most daemons.
const upgradeSignal = syscall.SIGUSR2

// Bounds of a handoff.
const (
	// readyWait bounds how long the old process waits for the new one to
	// say it can run before it gives up and serves on.
	readyWait = 30 * time.Second
	// lockMargin is how much longer than its --shutdown-timeout the new
	// process waits for the old one to release the home.
	lockMargin = 30 * time.Second
)

// runNode runs the node of cfg (cfgErr: why cfg could not be read), the
// whole of `mesh start`: when started by a handoff it takes over the
// sockets its predecessor handed it; on upgradeSignal it hands them to a
// successor and stops.
func runNode(ctx context.Context, cfg host.Config, cfgErr error) error {
	exe, exeErr := os.Executable() // resolved now: replacing the file there is the upgrade
	up := make(chan os.Signal, 1)
	signal.Notify(up, upgradeSignal) // before anything: SIGUSR2 would kill the process otherwise
	defer signal.Stop(up)
	handed, err := handoff.Inherit()
	if err == nil {
		err = cfgErr
	}
	if err == nil {
		err = takeOver(handed, &cfg)
	}
	if err != nil {
		handed.Fail(err)
		return err
	}
	if err := handed.Report(handoff.Ready); err != nil {
		cfg.Logger.Warn("tell the previous process this one is ready", "err", err.Error())
	}
	h, err := host.New(ctx, cfg)
	if err != nil {
		handed.Fail(err)
		return err
	}
	if err := handed.Report(handoff.Serving); err != nil {
		cfg.Logger.Warn("tell the previous process this one serves", "err", err.Error())
	}
	n := &upgradable{h: h, cfg: cfg, exe: exe, exeErr: exeErr, log: cfg.Logger, pid: os.Getpid}
	return n.run(ctx, up)
}

// takeOver readies cfg to run: validated (so that a successor reports a bad
// configuration before its predecessor lets go), with the sockets handed
// over, if any, and the wait for the predecessor's lock.
func takeOver(handed *handoff.Handed, cfg *host.Config) error {
	cfg.Version = readBuildInfo().Version
	if err := cfg.Validate(); err != nil {
		return err
	}
	lns, err := handed.Listeners()
	if err != nil {
		return err
	}
	if lns != nil {
		cfg.Inherit, cfg.LockWait = lns, cfg.ShutdownTimeout+lockMargin
		cfg.Logger.Info("taking over from the previous process", "sockets", len(lns), "lock_wait", cfg.LockWait.String())
	}
	return nil
}

// upgradable is a serving node that hands off to a successor on
// upgradeSignal.
type upgradable struct {
	h      *host.Host
	cfg    host.Config
	exe    string
	exeErr error
	log    *slog.Logger
	pid    func() int // os.Getpid
}

// run serves until ctx ends or a successor takes over. ctx ending (SIGTERM,
// SIGINT) during an upgrade stops the node all the same: before the
// successor is ready it is killed and this process stops as on any stop;
// after the handoff the stop is passed on to the successor once it serves.
func (n *upgradable) run(stop context.Context, up <-chan os.Signal) error {
	ctx, cancel := context.WithCancel(stop)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.h.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case <-up:
			next, err := n.startSuccessor(ctx)
			switch {
			case err == nil && stop.Err() != nil: // ready, but told to stop meanwhile
				next.Abandon()
				fallthrough
			case stop.Err() != nil:
				n.log.Info("upgrade abandoned: the node is stopping")
				continue // done comes: Run saw ctx end
			case err != nil:
				n.log.Error("upgrade refused: this process serves on", "err", err.Error())
				continue
			}
			n.log.Info("handing over to the new process", "pid", next.Pid())
			start := time.Now()
			n.h.HandOff()
			cancel()
			if err := <-done; err != nil {
				n.log.Error("stopping for the handoff", "err", err.Error())
			}
			n.log.Info("drained and let go of the home", "took", time.Since(start).Round(time.Millisecond).String())
			return n.await(stop, next, start)
		}
	}
}

// startSuccessor starts the binary at n.exe with this process's arguments
// and environment and the node's sockets, and waits until it says it can
// run; it is killed if it does not.
func (n *upgradable) startSuccessor(ctx context.Context) (*handoff.Successor, error) {
	if n.exeErr != nil {
		return nil, fmt.Errorf("this process's binary: %w", n.exeErr)
	}
	if err := n.cfg.HandOffRefusal(); err != nil {
		return nil, err
	}
	if n.pid() == 1 {
		return nil, errors.New("this node is PID 1 (a container's entrypoint): the container would stop with it once it handed over; restart the container/pod with the new image instead")
	}
	files, err := n.h.Sockets()
	if err != nil {
		return nil, err
	}
	next, err := handoff.Start(handoff.Spec{Path: n.exe, Args: os.Args[1:], Env: os.Environ(),
		Files: files, Stdout: os.Stdout, Stderr: os.Stderr})
	for _, f := range files {
		_ = f.Close()
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if err := next.Await(ctx, handoff.Ready); err != nil {
		next.Abandon()
		return nil, err
	}
	return next, nil
}

// await waits, once this process has let go of the home, for the successor
// to serve. Past that point a failure of the successor leaves the node
// down: the error says so, and the exit status lets a supervisor restart it.
// If stop has ended (the node was told to stop during the upgrade), or
// ends until the successor serves, the successor is sent SIGTERM once it
// serves (before, it would die of it with its store half open) and this
// process waits for it to stop, so that whoever stopped the node sees it
// stopped.
func (n *upgradable) await(stop context.Context, next *handoff.Successor, start time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout+lockMargin+n.cfg.ClusterWait)
	defer cancel()
	if err := next.Await(ctx, handoff.Serving); err != nil {
		next.Abandon()
		return fmt.Errorf("upgrade: the node is down: %w", err)
	}
	if stop.Err() != nil {
		n.log.Info("the node was told to stop during the upgrade: stopping the new process", "pid", next.Pid())
		return next.Stop(syscall.SIGTERM)
	}
	next.Release()
	n.log.Info("upgraded: the new process serves", "pid", next.Pid(), "handoff", time.Since(start).Round(time.Millisecond).String())
	if stop.Err() != nil { // told to stop just now: the successor is still this process's child, its pid not reusable
		n.log.Info("the node was told to stop as the upgrade ended: stopping the new process", "pid", next.Pid())
		_ = syscall.Kill(next.Pid(), syscall.SIGTERM)
	}
	return nil
}
