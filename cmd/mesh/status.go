package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/api"
)

// statusCmd is `mesh status`: whether a running node (replica) is ready to
// serve, how it sees its cluster, and its totals. It exits non-zero when
// the node is not ready, so scripts and probes can use it.
func statusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether a node is ready, its cluster and its totals; exit 1 when not ready",
		Args:  cobra.NoArgs,
	}
	c := controlFlags(cmd)
	w := watchFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if w.watch {
			return w.run(cmd.Context(), cmd.OutOrStdout(), c)
		}
		st, err := fetchStatus(cmd.Context(), c)
		if err != nil {
			return err
		}
		if err := c.print(cmd.OutOrStdout(), st, st.table); err != nil {
			return err
		}
		if !st.Ready {
			return fmt.Errorf("not ready: %s", st.Reason)
		}
		return nil
	}
	return cmd
}

// fetchStatus reads the node's readiness and, while it serves, its figures.
func fetchStatus(ctx context.Context, c *control) (status, error) {
	var st status
	ready, reason, err := health(ctx, c)
	if err != nil {
		return st, err
	}
	st.Ready, st.Reason = ready, reason
	// /stats answers 503 while the node is not ready: its figures are
	// shown only when it serves.
	if ready {
		if err := c.call(ctx, "/stats", nil, &st.Stats); err != nil {
			return st, err
		}
	}
	return st, nil
}

// status is what `mesh status` shows: readiness, then the node's figures
// (the content of /stats) while it serves.
type status struct {
	Ready  bool      `json:"ready"`
	Reason string    `json:"reason,omitempty"`
	Stats  nodeStats `json:"stats"`
}

// nodeStats is the content of /stats: api.Stats with its cluster decoded as
// the host's ClusterStatus (the outer field shadows the embedded one).
type nodeStats struct {
	api.Stats
	Cluster *host.ClusterStatus `json:"cluster"`
}

func (s status) table(w io.Writer) {
	if !s.Ready {
		fields(w, "ready", "NO: "+s.Reason) // /stats has no figures for a node that cannot serve
		return
	}
	fields(w, "ready", "yes", "node_id", cmp.Or(s.Stats.NodeID, "(none yet)"))
	if c := s.Stats.Cluster; c != nil {
		fields(w, "replica", c.Replica, "replicas", strconv.Itoa(c.Replicas), "nats", c.NATS+" (server "+c.Server+")",
			"routes", strings.Join(c.Routes, ", "), "queue leader", c.QueueLeader,
			"outbox", map[bool]string{true: "delivered by this replica", false: "delivered by another replica"}[c.Outbox])
	}
	fields(w, "pushed", strconv.FormatInt(s.Stats.Pushed, 10), "popped", strconv.FormatInt(s.Stats.Popped, 10))
}

// health reads /healthz: ready, or the reason it is not.
func health(ctx context.Context, c *control) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := c.anonymous()
	if err != nil {
		return false, "", err
	}
	r, httpStatus, err := cl.Do(ctx, "/healthz", nil)
	if err != nil {
		return false, "", err
	}
	var h api.Health
	if err := r.Decode(&h); err != nil {
		return false, "", fmt.Errorf("node at %s: /healthz answered HTTP %d: %w", c.addr, httpStatus, err)
	}
	ready := httpStatus == http.StatusOK && h.Ready
	reason := h.Reason
	if !ready && reason == "" {
		reason = fmt.Sprintf("/healthz answered HTTP %d: %s", httpStatus, r.Message)
	}
	return ready, reason, nil
}
