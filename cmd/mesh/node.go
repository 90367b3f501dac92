package main

import (
	"cmp"
	"io"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/identity"
)

// nodeCmd is `mesh node refresh|show`: this node's identity. Only public
// material is ever shown (the API returns no key, and identity.Public has no
// field for one).
func nodeCmd() *cobra.Command {
	cmd := groupCmd(&cobra.Command{
		Use:   "node",
		Short: "Set or show the identity of a running node",
	})
	c := controlFlags(cmd)
	var req identity.Refresh
	refresh := &cobra.Command{
		Use:   "refresh --node-id ID --inst-id INST [--inst-name NAME]",
		Short: "Set the node id and institution; the node keeps (or first makes) its root CA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showReply(cmd, c, "/v1/interconn/node/refresh", req, nodeTable)
		},
	}
	f := refresh.Flags()
	f.StringVar(&req.NodeID, "node-id", "", "this node's id, unique in the network (required)")
	f.StringVar(&req.InstID, "inst-id", "", "this institution's id (required)")
	f.StringVar(&req.InstName, "inst-name", "", "this institution's name, for people")
	_ = refresh.MarkFlagRequired("node-id")
	_ = refresh.MarkFlagRequired("inst-id")

	showCmd := &cobra.Command{
		Use:   "show",
		Short: "Show the node's identity and the fingerprint of its root CA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showReply(cmd, c, "/v1/interconn/node", nil, nodeTable)
		},
	}
	cmd.AddCommand(refresh, showCmd)
	return cmd
}

// nodeInfo is the reply of GET /v1/interconn/node, under the name the
// HA tests use.
type nodeInfo = api.NodeInfo

func nodeTable(p api.NodeInfo) func(io.Writer) {
	return func(w io.Writer) {
		if p.NodeID == "" {
			fields(w, "node_id", "(none yet: run mesh node refresh)")
			return
		}
		fields(w, "node_id", p.NodeID, "inst_id", p.InstID, "inst_name", p.InstName, "version", p.Version,
			"root", fingerprint(p.RootCrt), "certificate", fingerprint(p.Crt),
			"advertise", cmp.Or(p.Advertise, "(none: partners cannot call back; set mesh start --advertise)"))
	}
}
