package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host"
)

// stopMargin is how much longer than the node's shutdown timeout `mesh
// stop` waits by default: the node drains for up to that timeout, then
// closes its store and releases its home.
const stopMargin = 15 * time.Second

// stopPoll is how often `mesh stop` checks whether the home is released.
const stopPoll = 100 * time.Millisecond

// stopKillWait bounds the wait for the home's release after SIGKILL.
const stopKillWait = 10 * time.Second

// stopCmd is `mesh stop`: it signals the node that holds a home and waits
// until the node has let go of it.
func stopCmd() *cobra.Command {
	var (
		home    string
		timeout time.Duration
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "stop [--home DIR]",
		Short: "Stop the node running on a home: SIGTERM, then wait until it has drained and released the home",
		Long: `stop finds the node that holds the home's lock (its pid is in HOME/mesh.lock, and
the lock is held for as long as it runs, so a stale pid is never signalled), sends it
SIGTERM, and waits until it releases the home: in-flight calls finish (up to the node's
--shutdown-timeout), its store is closed. With --force it sends SIGKILL once --timeout
passes; without, it exits 1 and leaves the node draining. It exits 1 when no node runs
on the home.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := host.HomeDir(home)
			if err != nil {
				return err
			}
			return stopNode(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), dir, timeout, force)
		},
	}
	f := cmd.Flags()
	f.StringVar(&home, "home", os.Getenv("MESH_HOME"), "state directory of the node to stop (env MESH_HOME; default ~/.mesh)")
	f.DurationVar(&timeout, "timeout", host.Defaults().ShutdownTimeout+stopMargin,
		"how long to wait for the node to stop (default: the default --shutdown-timeout and a margin; give more to a node started with a longer one)")
	f.BoolVar(&force, "force", false, "send SIGKILL when the node has not stopped within --timeout")
	return cmd
}

// stopNode signals the node on home and waits for it to release the home,
// reporting progress on progress and the outcome on out.
func stopNode(ctx context.Context, out, progress io.Writer, home string, timeout time.Duration, force bool) error {
	pid, err := awaitPid(home)
	if err != nil {
		return err
	}
	if err := signalHolder(pid, home, syscall.SIGTERM); err != nil {
		return err
	}
	fmt.Fprintf(progress, "sent SIGTERM to the node on %s (pid %d); waiting up to %s for it to stop\n", home, pid, timeout)
	start := time.Now()
	switch err := awaitRelease(ctx, progress, home, pid, timeout); {
	case err == nil:
		fmt.Fprintf(out, "stopped the node on %s (pid %d) in %s\n", home, pid, time.Since(start).Round(time.Millisecond))
		return nil
	case !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return err
	case !force:
		return fmt.Errorf("the node on %s (pid %d) is still running after %s (it may still be draining): wait, or run mesh stop --force", home, pid, timeout)
	}
	if err := signalHolder(pid, home, syscall.SIGKILL); errors.Is(err, host.ErrNoNode) {
		fmt.Fprintf(out, "stopped the node on %s (pid %d) in %s\n", home, pid, time.Since(start).Round(time.Millisecond))
		return nil
	} else if err != nil {
		return err
	}
	fmt.Fprintf(progress, "sent SIGKILL to pid %d after %s\n", pid, timeout)
	if err := awaitRelease(ctx, progress, home, pid, stopKillWait); err != nil {
		return fmt.Errorf("the node on %s (pid %d) still holds it %s after SIGKILL: %w", home, pid, stopKillWait, err)
	}
	fmt.Fprintf(out, "killed the node on %s (pid %d) after %s\n", home, pid, timeout)
	return nil
}

// errSuperseded says that another process than the one signalled holds the
// home now (a successor of an upgrade): it is not signalled.
var errSuperseded = errors.New("another process holds the home now")

// signalHolder sends sig to pid if it still holds home (HomeHolder, read
// again just before: a pid is never signalled once it has let go):
// host.ErrNoNode when none holds it, errSuperseded when another does.
func signalHolder(pid int, home string, sig syscall.Signal) error {
	now, err := awaitPid(home)
	switch {
	case err != nil:
		return err
	case now != pid:
		return fmt.Errorf("%s is held by pid %d, not pid %d (an upgrade handed it over): %w", home, now, pid, errSuperseded)
	}
	return signalNode(pid, home, sig)
}

// awaitPid is the pid of the node holding home, waiting (briefly: a node
// writes its pid as it takes the lock) while it has not written it.
func awaitPid(home string) (int, error) {
	deadline := time.Now().Add(stopPidWait)
	for {
		pid, err := host.HomeHolder(home)
		if !errors.Is(err, host.ErrPidPending) || time.Now().After(deadline) {
			return pid, err
		}
		time.Sleep(pidPoll)
	}
}

// How long, and how often, signalHolder reads a lock whose holder has not
// yet written its pid.
const (
	stopPidWait = 2 * time.Second
	pidPoll     = 10 * time.Millisecond
)

// signalNode sends sig to the node's process, with errors an operator can
// act on.
func signalNode(pid int, home string, sig syscall.Signal) error {
	err := syscall.Kill(pid, sig)
	switch {
	case err == nil, errors.Is(err, syscall.ESRCH): // gone already: the wait sees the home released
		return nil
	case errors.Is(err, syscall.EPERM):
		return fmt.Errorf("permission denied: the node on %s (pid %d) runs as another user; run mesh stop as that user", home, pid)
	}
	return fmt.Errorf("signal the node on %s (pid %d): %w", home, pid, err)
}

// awaitRelease polls home's lock until no node holds it (nil), timeout
// passes (context.DeadlineExceeded) or ctx ends, writing a progress line
// each second. A process other than pid holding it is a successor pid
// handed the home to (an upgrade under way as it was stopped, which pid
// passes the stop on to): it is reported, waited for too, and never
// signalled (at the timeout: errSuperseded).
func awaitRelease(ctx context.Context, progress io.Writer, home string, pid int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	start, shown, other := time.Now(), time.Duration(0), 0
	for {
		switch now, err := host.HomeHolder(home); {
		case errors.Is(err, host.ErrNoNode):
			return nil
		case errors.Is(err, host.ErrPidPending): // a successor taking the home
		case err != nil:
			return err
		case now != pid && now != other:
			other = now
			fmt.Fprintf(progress, "pid %d handed %s to pid %d (an upgrade); waiting for it to stop too\n", pid, home, now)
		}

		if waited := time.Since(start).Truncate(time.Second); waited > shown {
			shown = waited
			fmt.Fprintf(progress, "waiting for pid %d to stop… %s\n", pid, waited)
		}
		select {
		case <-ctx.Done():
			if other != 0 { // not ctx's error: --force must not kill it
				return fmt.Errorf("%s is held by pid %d, which pid %d handed it to (%v): %w", home, other, pid, ctx.Err(), errSuperseded)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}
