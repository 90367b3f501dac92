package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host"
)

func startCmd() *cobra.Command {
	var sc *startConfig
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node on this machine (embedded NATS; nothing else to install)",
		Long: `start runs a node. Every option is a flag, a MESH_* environment variable and a key of
the --config YAML file; a flag beats the environment, which beats the file, which beats the
default. mesh config print shows what a node would run with and where each value comes from.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sc.load(os.Getenv)
			return runNode(cmd.Context(), cfg, err) // upgrade.go: serves, and hands off on SIGUSR2
		},
	}
	sc = startFlags(cmd.Flags())
	return cmd
}

// load resolves the configuration (see resolve) and reads its secrets.
func (sc *startConfig) load(getenv func(string) string) (host.Config, error) {
	if err := sc.resolve(getenv); err != nil {
		return host.Config{}, err
	}
	return sc.cfg, sc.readSecrets()
}
