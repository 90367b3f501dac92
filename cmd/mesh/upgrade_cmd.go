package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host"
)

// upgradePoll is how often `mesh upgrade` looks at the home's lock and the
// node's /stats.
const upgradePoll = 100 * time.Millisecond

// upgradeCmd is `mesh upgrade`: it signals the node that holds a home to
// hand over to the binary now at its path, and waits for the new process.
func upgradeCmd() *cobra.Command {
	var (
		home    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "upgrade [--home DIR]",
		Short: "Replace the running node's process by the binary now at its path, refusing no connection",
		Long: `upgrade finds the node that holds the home's lock, sends it SIGUSR2 and waits until a
new process, started from the binary now at the path the node was started from with the
same arguments and environment, holds the home and serves; it then prints the old and new
pids and the new version (read from the node's /stats at --addr). Replace the binary first
(install, or rename the new one into place). The node hands its listening sockets over:
connections arriving meanwhile wait in the kernel's queue; calls in flight finish. A node
that cannot hand over (--nats-listen, a cluster replica) refuses and serves on; see its log.`,
		Args: cobra.NoArgs,
	}
	c := controlFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&home, "home", os.Getenv("MESH_HOME"), "state directory of the node to upgrade (env MESH_HOME; default ~/.mesh)")
	f.DurationVar(&timeout, "timeout", host.Defaults().ShutdownTimeout+lockMargin+readyWait,
		"how long to wait for the new process to serve (give more to a node started with a longer --shutdown-timeout)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		dir, err := host.HomeDir(home)
		if err != nil {
			return err
		}
		return upgradeNode(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c, dir, timeout)
	}
	return cmd
}

// upgradeNode signals the node on home and waits for its successor to hold
// the home and serve at c's address, reporting progress on progress and
// the outcome on out.
func upgradeNode(ctx context.Context, out, progress io.Writer, c *control, home string, timeout time.Duration) error {
	old, err := awaitPid(home)
	if err != nil {
		return err
	}
	if err := signalHolder(old, home, upgradeSignal); err != nil {
		return err
	}
	fmt.Fprintf(progress, "sent SIGUSR2 to the node on %s (pid %d); waiting up to %s for the new process\n", home, old, timeout)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pid, err := awaitSuccessor(ctx, progress, home, old)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "pid %d holds %s; reading its version\n", pid, home)
	st, err := awaitServing(ctx, c, pid)
	if errors.Is(err, errNoFigures) {
		fmt.Fprintf(out, "upgraded the node on %s: pid %d → %d, in %s; its version is unknown: %v\n",
			home, old, pid, time.Since(start).Round(time.Millisecond), err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("pid %d holds %s but does not serve at %s: %w", pid, home, c.addr, err)
	}
	fmt.Fprintf(out, "upgraded the node on %s: pid %d → %d, mesh %s, in %s\n",
		home, old, pid, st.Version, time.Since(start).Round(time.Millisecond))
	return nil
}

// awaitSuccessor polls home's lock until a process other than old holds
// it, writing a progress line each second.
func awaitSuccessor(ctx context.Context, progress io.Writer, home string, old int) (int, error) {
	tick := time.NewTicker(upgradePoll)
	defer tick.Stop()
	start, shown := time.Now(), time.Duration(0)
	for {
		pid, err := host.HomeHolder(home)
		switch {
		case err == nil && pid != old:
			return pid, nil
		case err != nil && !errors.Is(err, host.ErrNoNode) && !errors.Is(err, host.ErrPidPending):
			return 0, err
		}
		if waited := time.Since(start).Truncate(time.Second); waited > shown {
			shown = waited
			fmt.Fprintf(progress, "waiting for the new process… %s (%s)\n", waited, holderNow(pid, err, old))
		}
		select {
		case <-ctx.Done():
			if pid == old {
				return 0, fmt.Errorf("pid %d still holds %s: it refused the upgrade or its new process failed (its log says why)", old, home)
			}
			return 0, fmt.Errorf("no process took over %s: %w", home, ctx.Err())
		case <-tick.C:
		}
	}
}

// holderNow says who holds the home during the wait.
func holderNow(pid int, err error, old int) string {
	switch {
	case err != nil:
		return "the old process has let go; the new one is taking the home"
	case pid == old:
		return "the old process is draining"
	}
	return fmt.Sprintf("pid %d", pid)
}

// errNoFigures says /stats answered without a pid: it shows no figures
// there (a data port, while the node has an admin port), or the new binary
// predates the pid in /stats.
var errNoFigures = errors.New("/stats there names no pid: it shows figures only on the admin port when the node has one (give --addr that port)")

// awaitServing polls the node's /stats until the process pid answers.
func awaitServing(ctx context.Context, c *control, pid int) (nodeStats, error) {
	tick := time.NewTicker(upgradePoll)
	defer tick.Stop()
	for {
		var st nodeStats
		err := c.call(ctx, "/stats", nil, &st)
		switch {
		case err == nil && st.PID == pid:
			return st, nil
		case err == nil && st.PID == 0:
			return st, errNoFigures
		}
		if err == nil {
			err = fmt.Errorf("/stats is served by pid %d", st.PID)
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-tick.C:
		}
	}
}
