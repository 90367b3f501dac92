// Command mesh is the Mesh node and its command-line client: `mesh start`
// runs a node; `mesh node`, `mesh net`, `mesh plugin`, `mesh chan` and `mesh
// load` talk to a running one; `mesh version` prints the version.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "mesh:", err)
		os.Exit(exitStatus(err))
	}
}

// exitError is an error with its own exit status (1 for any other error).
type exitError struct {
	status int
	err    error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// exitStatus is the exit status of a command that failed with err.
func exitStatus(err error) int {
	var e exitError
	if errors.As(err, &e) {
		return e.status
	}
	return 1
}

func rootCmd() *cobra.Command {
	root := groupCmd(&cobra.Command{
		Use:           "mesh",
		Short:         "Mesh — the interconnection gateway for privacy computing (PTP/1.0)",
		SilenceUsage:  true,
		SilenceErrors: true,
	})
	root.AddCommand(startCmd(), nodeCmd(), netCmd(), chanCmd(), loadCmd(), pluginCmd(), statusCmd(), stopCmd(), versionCmd())
	root.AddCommand(registryCmd())
	root.AddCommand(upgradeCmd()) // upgrade_cmd.go
	root.AddCommand(configCmd())
	return root
}

// groupCmd makes cmd, which only groups subcommands, refuse an unknown one
// with a non-zero exit and a suggestion, and print its help when given none.
// (Cobra prints the help of a command without Run and exits 0, whatever
// follows it.)
func groupCmd(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = unknownSubcommand
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return cmd
}

// unknownSubcommand is the Args of a group command: no argument shows the
// help (flag.ErrHelp); any other is an unknown subcommand. Cobra checks
// arguments before required flags, so the error is this one.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return pflag.ErrHelp
	}
	msg := fmt.Sprintf("unknown command %q for %s", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; Did you mean " + strings.Join(s, " or ") + "?"
	}
	return errors.New(msg)
}
