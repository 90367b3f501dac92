package main

import (
	"cmp"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/identity"
	"github.com/ppcmesh/mesh/host/network"
)

// netCmd is `mesh net …`: the partner routes of a running node and the
// weave handshake with partners.
func netCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Add, weave, ack, list and switch partner nodes of other institutions",
		Long: `Weaving two nodes takes one step by one operator and an ack by each:

  A: mesh net add node-b --inst inst-b --address HOST:PORT
  A: mesh net weave node-b                     # prints an authorisation code
  B: mesh net list                             # shows node-a pending with a code
  A and B read their codes to each other over a channel they trust (a call).
  B: mesh net ack node-a --inst inst-a --code CODE_A_READ_OUT
  A: mesh net ack node-b --code CODE_B_READ_OUT

The route is woven once both have acked; an ack with another code is refused.`,
	}
	groupCmd(cmd)
	c := controlFlags(cmd)
	cmd.AddCommand(netAddCmd(c), netWeaveCmd(c), netAckCmd(c), netListCmd(c), netShowCmd(c),
		netRemoveCmd(c),
		netSwitchCmd(c, "disable", "Stop traffic to and from a partner, keeping its route"),
		netSwitchCmd(c, "enable", "Let traffic flow again to and from a disabled partner"))
	completeArgs(cmd, c, partnerIDs, "add", "weave", "ack", "show", "rm", "disable", "enable")
	return cmd
}

func netAddCmd(c *control) *cobra.Command {
	var (
		req                network.RouteRequest
		root, crt, expires string
		codec, dialect     string
		plaintext, outbox  bool
		plaintextFrom      []string
	)
	cmd := &cobra.Command{
		Use:   "add NODE_ID --inst INST --address ADDR",
		Short: "Add a partner route, or change a known one (flags left out keep their values)",
		Long: `add records where a partner node is. ADDR is host:port (mTLS over gRPC), or
grpcs://, https:// (mTLS), or grpc://, h2c://, http:// (plaintext, needs --allow-plaintext).
With --root (the partner's root CA) or --crt (its exact certificate) the route is woven at once,
for partners that do not run the handshake; otherwise run mesh net weave next.
--dialect legacy (the older Go Mesh) or kuscia sends in that peer's form; such
partners cannot weave: confirm them with mesh net ack NODE_ID --trust plaintext
(a plaintext route) or --root FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.NodeID = args[0]
			f := cmd.Flags()
			if f.Changed("allow-plaintext") {
				req.AllowPlaintext = &plaintext
			}
			if f.Changed("plaintext-from") {
				req.PlaintextFrom = &plaintextFrom
			}
			if f.Changed("outbox") {
				req.Outbox = &outbox
			}
			if f.Changed("codec") {
				req.Codec = &codec
			}
			if f.Changed("dialect") {
				req.Dialect = &dialect
			}
			if err := readRouteFlags(&req, root, crt, expires); err != nil {
				return err
			}
			return showReply(cmd, c, "/v1/interconn/net/refresh", req, routeTable)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.InstID, "inst", "", "the partner's institution id")
	f.StringVar(&req.InstName, "inst-name", "", "the partner's institution name, for people")
	f.StringVar(&req.Address, "address", "", "where the partner's node listens: [scheme://]host:port")
	f.StringVar(&root, "root", "", "PEM file of the partner's root CA: trust it without a handshake")
	f.StringVar(&crt, "crt", "", "PEM file of the partner's certificate: pin it without a handshake")
	f.BoolVar(&plaintext, "allow-plaintext", false, "permit a plaintext address (old partners only)")
	f.StringSliceVar(&plaintextFrom, "plaintext-from", nil, "networks (CIDRs) a plaintext partner calls from; default the IPs of its --address")
	f.BoolVar(&outbox, "outbox", false, "park pushes durably while the partner is unreachable and retry them")
	f.StringVar(&expires, "expires", "", "the route stops carrying traffic after this RFC 3339 time")
	f.StringVar(&codec, "codec", "", `codec plugin that encodes payloads to the partner ("" for none); the partner needs it installed too`)
	f.StringVar(&dialect, "dialect", "", "how the partner speaks PTP: mesh (the default), legacy (the older Go Mesh) or kuscia")
	return cmd
}

// readRouteFlags fills req from the --root, --crt and --expires flags.
func readRouteFlags(req *network.RouteRequest, root, crt, expires string) error {
	for _, p := range []struct {
		file string
		dst  *string
	}{{root, &req.GuestRoot}, {crt, &req.GuestCrt}} {
		if p.file == "" {
			continue
		}
		b, err := os.ReadFile(p.file)
		if err != nil {
			return err
		}
		*p.dst = string(b)
	}
	if expires != "" {
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil {
			return fmt.Errorf("--expires %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z", expires)
		}
		req.ExpiresAt = &t
	}
	return nil
}

func netWeaveCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:   "weave NODE_ID",
		Short: "Run the handshake with a partner and print the authorisation code",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r network.Route
			if err := c.call(cmd.Context(), "/v1/interconn/net/weave", idBody(args[0]), &r); err != nil {
				return err
			}
			if err := c.print(cmd.OutOrStdout(), r, routeTable(r)); err != nil || c.output == "json" {
				return err
			}
			var me api.NodeInfo
			_ = c.call(cmd.Context(), "/v1/interconn/node", nil, &me)
			weaveAdvice(cmd.OutOrStdout(), r, me.Public)
			return nil
		},
	}
}

// weaveAdvice tells the operator what happens next.
func weaveAdvice(w io.Writer, r network.Route, me identity.Public) {
	if r.State == network.StateWoven {
		fmt.Fprintf(w, "\n%s is woven: traffic flows both ways.\n", printable(r.NodeID))
		return
	}
	id, inst := cmp.Or(me.NodeID, "THIS_NODE_ID"), cmp.Or(me.InstID, "THIS_INST_ID")
	fmt.Fprintf(w, `
Authorisation code: %s

Read it to the operator of %s over a channel you both trust (a call, not the
network being woven), and have them read you the code %s shows for %s
(mesh net list there). Only if the two codes are the same:

  they run:  mesh net ack %s --inst %s --code %s
  you run:   mesh net ack %s --code THE_CODE_THEY_READ
`, r.Code, printable(r.NodeID), printable(r.NodeID), id, id, inst, r.Code, printable(r.NodeID))
}

func netAckCmd(c *control) *cobra.Command {
	var (
		req  network.AckRequest
		root string
	)
	cmd := &cobra.Command{
		Use:   "ack NODE_ID (--code CODE | --trust plaintext | --root FILE) [--inst INST]",
		Short: "Confirm a handshake with the code the partner's operator read out",
		Long: `ack confirms the handshake with a partner: CODE is the authorisation code the
partner's operator reads out to you. It is refused if it differs from the code
this node shows; the route is woven once both operators have acked. Acking
again re-sends the confirmation to the partner.

A legacy or kuscia partner cannot weave: --trust plaintext confirms its
plaintext route (it is then known only by the source addresses it calls from),
--root FILE gives its root CA (mTLS both ways).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.NodeID = args[0]
			if err := readAckFlags(&req, root); err != nil {
				return err
			}
			var r network.Route
			if err := c.call(cmd.Context(), "/v1/interconn/net/ack", req, &r); err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), r, routeTable(r))
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.InstID, "inst", "", "the institution the partner must belong to")
	f.StringVar(&req.Code, "code", "", "the authorisation code the partner's operator read out")
	f.StringVar(&req.Trust, "trust", "", `for a legacy or kuscia partner: "plaintext" confirms its plaintext route`)
	f.StringVar(&root, "root", "", "for a legacy or kuscia partner: PEM file of its root CA")
	return cmd
}

// readAckFlags checks that ack got one confirmation and reads --root.
func readAckFlags(req *network.AckRequest, root string) error {
	if req.Code == "" && req.Trust == "" && root == "" {
		return fmt.Errorf("ack needs --code (or, for a partner that cannot weave, --trust plaintext or --root FILE)")
	}
	if root == "" {
		return nil
	}
	b, err := os.ReadFile(root)
	if err != nil {
		return err
	}
	req.GuestRoot = string(b)
	return nil
}

func netListCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List partner routes and their states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showReply(cmd, c, "/v1/interconn/net", nil, routesTable)
		},
	}
}

func netShowCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:   "show NODE_ID",
		Short: "Show one partner route in full",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showReply(cmd, c, "/v1/interconn/net/"+url.PathEscape(args[0]), nil, routeTable)
		},
	}
}

func netRemoveCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NODE_ID",
		Aliases: []string{"remove"},
		Short:   "Forget a partner route (messages parked for it stay parked until they expire)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showReply(cmd, c, "/v1/interconn/net/remove", idBody(args[0]), func(map[string]string) func(io.Writer) {
				return func(w io.Writer) { fmt.Fprintf(w, "removed the route to %s\n", args[0]) }
			})
		},
	}
}

// netSwitchCmd is `mesh net disable` or `mesh net enable`.
func netSwitchCmd(c *control, op, short string) *cobra.Command {
	return &cobra.Command{
		Use:   op + " NODE_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showReply(cmd, c, "/v1/interconn/net/"+op, idBody(args[0]), routeTable)
		},
	}
}

// idBody is the body of the control calls that name one partner.
func idBody(id string) map[string]string { return map[string]string{"node_id": id} }

// routesTable prints one line a route.
func routesTable(rs []network.Route) func(io.Writer) {
	return func(w io.Writer) {
		if len(rs) == 0 {
			fmt.Fprintln(w, "no partner routes: add one with mesh net add")
			return
		}
		fmt.Fprintln(w, "NODE_ID\tINST_ID\tADDRESS\tSTATE\tCODE\tOPTIONS\tEXPIRES")
		for _, r := range rs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(r.NodeID), dash(r.InstID), dash(r.Address),
				state(r), dash(r.Code), dash(options(r)), dash(when(r.ExpiresAt)))
		}
	}
}

// routeTable prints one route in full; certificates by fingerprint.
func routeTable(r network.Route) func(io.Writer) {
	return func(w io.Writer) {
		fields(w, "node_id", printable(r.NodeID), "inst_id", printable(r.InstID), "inst_name", printable(r.InstName),
			"address", printable(r.Address), "state", state(r), "code", printable(r.Code), "options", printable(options(r)),
			"expires", when(r.ExpiresAt),
			"partner root", fingerprint(r.GuestRoot), "pinned certificate", fingerprint(r.GuestCrt),
			"updated", when(r.Updated))
	}
}

// state says what a route waits for, if anything.
func state(r network.Route) string {
	if r.State != network.StatePending {
		return printable(string(r.State))
	}
	switch r.Awaiting {
	case network.AwaitingUs:
		return "pending (ack here)"
	case network.AwaitingPartner:
		return "pending (partner to ack)"
	case network.AwaitingBoth:
		return "pending (both to ack)"
	case network.AwaitingReveal:
		return "pending (handshake unfinished)"
	}
	return string(r.State)
}

// printable is s with every control or otherwise unprintable character
// escaped (\x1b, \n, \u200b …), so that what a partner sent cannot move the
// cursor, recolour the terminal or forge table rows.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) && r != '\\' {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func options(r network.Route) string {
	var o []string
	if r.Outbox {
		o = append(o, "outbox")
	}
	if r.AllowPlaintext {
		o = append(o, "plaintext")
	}
	if r.Codec != "" {
		o = append(o, "codec="+r.Codec)
	}
	if r.Dialect != "" {
		o = append(o, "dialect="+string(r.Dialect))
	}
	if r.Trust != "" {
		o = append(o, "trust="+r.Trust)
	}
	return strings.Join(o, ",")
}

// when is t in RFC 3339, "" when unset.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func dash(s string) string { return cmp.Or(printable(s), "-") }
