package main

import (
	"cmp"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
)

// completionTimeout bounds the control call a shell completion makes: a
// node that does not answer at once yields no completion, not a hang.
const completionTimeout = 2 * time.Second

// candidates lists the values a completion offers, read from the running
// node, each as "value\tdescription".
type candidates func(ctx context.Context, c *control) ([]cobra.Completion, error)

// completeArgs makes the first argument of the named subcommands of group
// complete from list.
func completeArgs(group *cobra.Command, c *control, list candidates, names ...string) {
	for _, sub := range group.Commands() {
		for _, n := range names {
			if sub.Name() == n {
				sub.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
					if len(args) > 0 {
						return nil, cobra.ShellCompDirectiveNoFileComp
					}
					return complete(cmd, c, list, prefix)
				}
			}
		}
	}
}

// completeFlag makes flag of cmd (or a persistent flag of it) complete
// from list.
func completeFlag(cmd *cobra.Command, flag string, c *control, list candidates) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return complete(cmd, c, list, prefix)
	})
}

// complete asks the node at c's --addr for list's values starting with
// prefix; none when the node is down, slow or refuses.
func complete(cmd *cobra.Command, c *control, list candidates, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmp.Or(cmd.Context(), context.Background()), completionTimeout)
	defer cancel()
	all, err := list(ctx, c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, v := range all {
		if strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// get reads a control endpoint for a completion, within ctx.
func get[T any](ctx context.Context, c *control, path string) (T, error) {
	var v T
	cl, err := c.client()
	if err != nil {
		return v, err
	}
	return v, cl.Call(ctx, path, nil, &v)
}

// partnerIDs are the node ids of the partner routes, with their states.
func partnerIDs(ctx context.Context, c *control) ([]cobra.Completion, error) {
	rs, err := get[[]network.Route](ctx, c, "/v1/interconn/net")
	var out []cobra.Completion
	for _, r := range rs {
		out = appendCandidate(out, r.NodeID, state(r))
	}
	return out, err
}

// pluginNames are the installed plugins, with their kinds and states.
func pluginNames(ctx context.Context, c *control) ([]cobra.Completion, error) {
	rs, err := get[[]plugin.Record](ctx, c, "/v1/interconn/plugin")
	var out []cobra.Completion
	for _, r := range rs {
		out = appendCandidate(out, r.Name, string(r.Kind)+", "+pluginState(r))
	}
	return out, err
}

// sessionIDs are the sessions holding messages here, with their counts.
func sessionIDs(ctx context.Context, c *control) ([]cobra.Completion, error) {
	s, err := get[api.Sessions](ctx, c, api.SessionsPath)
	var out []cobra.Completion
	for _, si := range s.Sessions {
		out = appendCandidate(out, si.Session, strconv.FormatUint(si.Messages, 10)+" messages")
	}
	return out, err
}

// appendCandidate adds value (described by desc) to out, unless value holds
// a character the shell would read as a separator or control (a partner
// chooses its node id): such a value cannot be completed safely.
func appendCandidate(out []cobra.Completion, value, desc string) []cobra.Completion {
	if value == "" || value != printable(value) || strings.ContainsAny(value, " \t") {
		return out
	}
	return append(out, cobra.CompletionWithDesc(value, printable(desc)))
}
