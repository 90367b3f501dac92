package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/client"
)

// addrUsage describes --addr, the running node a client command talks to;
// nodeAddr is its default.
const addrUsage = "node address (env MESH_ADDRESS)"

// nodeAddr is MESH_ADDRESS, else the node's default port (host.Defaults)
// on this machine.
func nodeAddr() string { return cmp.Or(os.Getenv("MESH_ADDRESS"), localNode()) }

// localNode is the address of a node started here with the default --listen.
func localNode() string {
	_, port, _ := net.SplitHostPort(host.Defaults().Listen)
	return net.JoinHostPort("127.0.0.1", port)
}

// controlTimeout bounds one control call; a weave waits for the partner.
const controlTimeout = 90 * time.Second

// control is a client of a running node's control API (`mesh net`, `mesh
// node`): it sends the admin token when there is one and prints replies as
// a table or as JSON.
type control struct {
	*endpoint
	token  *secret
	output string
}

// controlFlags adds --addr, --ca, --token-file and --output to cmd and its
// subcommands.
func controlFlags(cmd *cobra.Command) *control {
	f := cmd.PersistentFlags()
	c := &control{endpoint: endpointFlags(f)}
	c.token = secretFlags(f, "token", "MESH_ADMIN_TOKEN", "admin bearer token (loopback callers need none)")
	f.StringVarP(&c.output, "output", "o", "table", "table or json")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if c.output != "table" && c.output != "json" {
			return fmt.Errorf("output %q: want table or json", c.output)
		}
		_, err := c.parsed()
		return err
	}
	return c
}

// call sends body to a control endpoint (a GET when body is nil) and
// decodes the reply's content into out (when not nil); a failure reply is a
// *ptp.Error with the node's code and message.
func (c *control) call(ctx context.Context, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.Call(ctx, path, body, out)
}

// client is the control client of the node at --addr, with the admin token
// when there is one (never sent in plaintext to another machine unless
// forced).
func (c *control) client() (*client.Control, error) {
	cl, err := c.anonymous()
	if err != nil {
		return nil, err
	}
	token, err := c.token.value()
	if err != nil {
		return nil, err
	}
	if token != "" {
		if err := c.checkToken("admin token"); err != nil {
			return nil, err
		}
	}
	cl.Token = token
	return cl, nil
}

// anonymous is the control client of the node at --addr without a token,
// for the endpoints open to every caller (/healthz).
func (c *control) anonymous() (*client.Control, error) {
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	return &client.Control{URL: c.url(""), Name: c.addr, HTTP: &http.Client{Transport: tr}}, nil
}

// showReply calls a control endpoint (see call) and prints the reply's content,
// a T, as a table or JSON.
func showReply[T any](cmd *cobra.Command, c *control, path string, body any, table func(T) func(io.Writer)) error {
	var v T
	if err := c.call(cmd.Context(), path, body, &v); err != nil {
		return err
	}
	return c.print(cmd.OutOrStdout(), v, table(v))
}

// print writes v as indented JSON with -o json, else as the table that
// table writes.
func (c *control) print(w io.Writer, v any, table func(w io.Writer)) error {
	if c.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := newTable(w)
	table(tw)
	return tw.Flush()
}

// newTable is the aligned-column writer every table uses.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// fields prints name/value pairs, one a line, skipping empty values.
func fields(w io.Writer, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(w, "%s:\t%s\n", kv[i], kv[i+1])
		}
	}
}

// fingerprint names a PEM certificate by its SHA-256, as operators compare
// it; "" when there is none.
func fingerprint(certPEM string) string {
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		return ""
	}
	sum := sha256.Sum256(b.Bytes)
	return "sha256:" + hex.EncodeToString(sum[:])
}
