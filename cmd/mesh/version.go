package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"
)

// version and date are set at build time by builds without VCS information
// (a source archive, a container build without .git):
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.date=2026-01-02T03:04:05Z"
//
// A build from a Git checkout needs neither: the module version, commit and
// commit time come from the binary's build information.
var version, date string

// devVersion names a build that carries no version at all.
const devVersion = "(devel)"

// buildInfo is what `mesh version` prints: which source the binary was
// built from, when, and with which toolchain for which platform.
type buildInfo struct {
	Version  string `json:"version"`          // module version, else -X main.version, else (devel)
	Commit   string `json:"commit,omitempty"` // VCS revision
	Modified bool   `json:"modified"`         // built from a tree with uncommitted changes
	Date     string `json:"date,omitempty"`   // commit time (VCS), else -X main.date
	Go       string `json:"go"`
	Platform string `json:"platform"` // GOOS/GOARCH
	Protocol string `json:"protocol"`
}

// readBuildInfo is this binary's buildInfo: the ldflags values win where
// set (a release build says what it is); the VCS stamps fill the rest.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Date: date, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Protocol: "PTP/1.0"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		b.Version = cmp.Or(b.Version, devVersion)
		return b
	}
	if v := bi.Main.Version; b.Version == "" && v != "" && v != devVersion {
		b.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Date = cmp.Or(b.Date, s.Value)
		case "vcs.modified":
			b.Modified, _ = strconv.ParseBool(s.Value)
		}
	}
	b.Version = cmp.Or(b.Version, devVersion)
	return b
}

// table prints b one field a line.
func (b buildInfo) table(w io.Writer) {
	commit := b.Commit
	if commit != "" && b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "mesh %s (%s)\n", b.Version, b.Protocol)
	fields(w, "commit", commit, "date", b.Date, "go", b.Go, "platform", b.Platform)
}

// versionCmd is `mesh version`.
func versionCmd() *cobra.Command {
	var c control // only its printer: -o table|json
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.output != "table" && c.output != "json" {
				return fmt.Errorf("output %q: want table or json", c.output)
			}
			b := readBuildInfo()
			return c.print(cmd.OutOrStdout(), b, b.table)
		},
	}
	cmd.Flags().StringVarP(&c.output, "output", "o", "table", "table or json")
	return cmd
}
