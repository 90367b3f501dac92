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
	pid, err := host.HomeHolder(home)
	if err != nil {
		return err
	}
	if err := signalNode(pid, home, syscall.SIGTERM); err != nil {
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
	if err := signalNode(pid, home, syscall.SIGKILL); err != nil {
		return err
	}
	fmt.Fprintf(progress, "sent SIGKILL to pid %d after %s\n", pid, timeout)
	if err := awaitRelease(ctx, progress, home, pid, stopKillWait); err != nil {
		return fmt.Errorf("the node on %s (pid %d) still holds it %s after SIGKILL: %w", home, pid, stopKillWait, err)
	}
	fmt.Fprintf(out, "killed the node on %s (pid %d) after %s\n", home, pid, timeout)
	return nil
}

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
// each second.
func awaitRelease(ctx context.Context, progress io.Writer, home string, pid int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(stopPoll)
	defer tick.Stop()
	start, shown := time.Now(), time.Duration(0)
	for {
		switch _, err := host.HomeHolder(home); {
		case errors.Is(err, host.ErrNoNode):
			return nil
		case err != nil:
			return err
		}
		if waited := time.Since(start).Truncate(time.Second); waited > shown {
			shown = waited
			fmt.Fprintf(progress, "waiting for pid %d to stop… %s\n", pid, waited)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
