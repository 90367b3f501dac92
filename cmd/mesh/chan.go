package main

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/ptp"
)

// chanCmd is `mesh chan push|pop|peek|release`: the container API from the
// command line, against a running node.
func chanCmd() *cobra.Command {
	var c chanCall
	cmd := &cobra.Command{
		Use:   "chan",
		Short: "Push, pop, peek and release messages on a running node",
	}
	c.endpoint = endpointFlags(cmd.PersistentFlags())
	c.token = secretFlags(cmd.PersistentFlags(), "container-token", "MESH_CONTAINER_TOKEN", "container token, for a node that does not admit this machine's network")
	cmd.PersistentFlags().StringVar(&c.session, "session", "", "session id (required)")
	_ = cmd.MarkPersistentFlagRequired("session")

	var file string
	push := &cobra.Command{
		Use:   "push TOPIC [DATA]",
		Short: "Push DATA, or the bytes of --file, or standard input, to TOPIC (of a partner with --target)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := pushData(cmd, args, file)
			if err != nil {
				return err
			}
			if err := c.check(c.client().Push(args[0], data)); err != nil || c.target == "" {
				return err
			}
			return c.delivery(cmd.OutOrStdout())
		},
	}
	push.Flags().StringVarP(&file, "file", "f", "", "read the payload from this file")
	push.Flags().StringVar(&c.target, "target", "", "partner node to deliver to (x-ptp-target-node-id); default this node")

	var timeout int
	pop := &cobra.Command{
		Use:   "pop TOPIC",
		Short: "Pop the head of TOPIC to standard output, waiting up to --timeout ms",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.write(cmd.OutOrStdout())(c.client().Pop(args[0], timeout))
		},
	}
	pop.Flags().IntVar(&timeout, "timeout", 5000, "milliseconds to wait for a message")

	peek := &cobra.Command{
		Use:   "peek TOPIC",
		Short: "Print the head of TOPIC without removing it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.write(cmd.OutOrStdout())(c.client().Peek(args[0]))
		},
	}
	release := &cobra.Command{
		Use:   "release [TOPIC]",
		Short: "Drop TOPIC, or the whole session",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.check(c.client().Release(append(args, "")[0]))
		},
	}
	cmd.AddCommand(push, pop, peek, release)
	return cmd
}

func pushData(cmd *cobra.Command, args []string, file string) ([]byte, error) {
	switch {
	case len(args) == 2:
		return []byte(args[1]), nil
	case file != "":
		return os.ReadFile(file)
	}
	return io.ReadAll(cmd.InOrStdin())
}

// chanCall is one `mesh chan` call. It is the transport of its client too,
// to keep the reply headers client.HTTP does not return: the node's own
// message and, on a push to a partner, the delivery outcome.
type chanCall struct {
	*endpoint
	token           *secret
	session, target string
	reply           http.Header
}

func (c *chanCall) client() *client.HTTP {
	return &client.HTTP{URL: c.url(""), Session: c.session, Target: c.target, Raw: true,
		Client: &http.Client{Transport: c}}
}

// RoundTrip sends req with the container token, if any, and keeps the
// reply's headers.
func (c *chanCall) RoundTrip(req *http.Request) (*http.Response, error) {
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	token, err := c.token.value()
	if err != nil {
		return nil, err
	}
	if token != "" {
		if err := c.checkToken("container token"); err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		c.reply = resp.Header
	}
	return resp, err
}

// check turns a reply code into the command's error, with the node's message.
func (c *chanCall) check(code ptp.Code, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("node at %s: %w", c.addr, err)
	case code == "":
		return fmt.Errorf("node at %s answered without a PTP code", c.addr)
	case code != ptp.OK:
		return replyError{code, orWord(c.reply.Get(ptp.HeaderMessage), code.Message())}
	}
	return nil
}

// delivery prints what became of a push to a partner: delivered, or queued
// in the outbox while the partner is unreachable.
func (c *chanCall) delivery(w io.Writer) error {
	switch d := c.reply.Get(ptp.HeaderDelivery); d {
	case "delivered":
		_, err := fmt.Fprintf(w, "delivered to %s\n", c.target)
		return err
	case "queued":
		_, err := fmt.Fprintf(w, "queued for %s: it is unreachable; the outbox delivers when it returns\n", c.target)
		return err
	default: // the target is this node: a local push
		_, err := fmt.Fprintf(w, "stored on this node (%s is this node)\n", c.target)
		return err
	}
}

// write prints a popped or peeked payload; an empty queue prints nothing.
func (c *chanCall) write(w io.Writer) func([]byte, ptp.Code, error) error {
	return func(p []byte, code ptp.Code, err error) error {
		if err := c.check(code, err); err != nil {
			return err
		}
		_, err = w.Write(p)
		return err
	}
}
