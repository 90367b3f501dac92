package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/ptp"
)

// chanCmd is `mesh chan push|pop|peek|release`: the container API from the
// command line, against a running node.
func chanCmd() *cobra.Command {
	var c chanCall
	cmd := groupCmd(&cobra.Command{
		Use:   "chan",
		Short: "Push, pop, peek and release messages on a running node",
	})
	c.endpoint = endpointFlags(cmd.PersistentFlags())
	c.token = secretFlags(cmd.PersistentFlags(), "container-token", "MESH_CONTAINER_TOKEN", "container token, for a node that does not admit this machine's network")
	c.ptpToken = ptpTokenFlags(cmd.PersistentFlags())
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if c.output != "" && c.output != "raw" && c.output != "json" {
			return fmt.Errorf("output %q: want raw or json", c.output)
		}
		_, err := c.parsed()
		return err
	}
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
			a, err := c.call(cmd, ptp.Push, args[0], data, 0)
			if err != nil || c.target == "" {
				return err
			}
			return c.delivery(cmd.OutOrStdout(), a)
		},
	}
	push.Flags().StringVarP(&file, "file", "f", "", "read the payload from this file")
	push.Flags().StringVar(&c.target, "target", "", "partner node to deliver to (x-ptp-target-node-id); default this node")

	var timeout int
	pop := &cobra.Command{
		Use:   "pop TOPIC",
		Short: "Pop the head of TOPIC to standard output, waiting up to --timeout ms",
		Long: `pop prints the payload of the message it pops, and exits 0 — also for a
message of 0 bytes. When no message comes within --timeout it prints
"no message within WAIT" on standard error and exits 3. With -o json it
prints the popped message as one JSON line: {"topic","id","size","payload"}
(payload in base64).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wait := time.Duration(timeout) * time.Millisecond
			a, err := c.call(cmd, ptp.Pop, args[0], nil, timeout)
			return c.write(cmd.OutOrStdout(), args[0], "within "+wait.String(), a, err)
		},
	}
	pop.Flags().IntVar(&timeout, "timeout", 5000, "milliseconds to wait for a message")
	pop.Flags().StringVarP(&c.output, "output", "o", "raw", "raw (the payload's bytes) or json (one line)")

	peek := &cobra.Command{
		Use:   "peek TOPIC",
		Short: "Print the head of TOPIC without removing it (exit 3 when there is none)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := c.call(cmd, ptp.Peek, args[0], nil, 0)
			return c.write(cmd.OutOrStdout(), args[0], "queued", a, err)
		},
	}
	peek.Flags().StringVarP(&c.output, "output", "o", "raw", "raw (the payload's bytes) or json (one line)")
	release := &cobra.Command{
		Use:   "release [TOPIC]",
		Short: "Drop TOPIC, or the whole session",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := c.call(cmd, ptp.Release, append(args, "")[0], nil, 0)
			return err
		},
	}
	cmd.AddCommand(push, pop, peek, release)
	c.completions(cmd, push)
	return cmd
}

// completions makes --session complete from the sessions the node holds
// and push's --target from its partners, reading the node as an operator
// (env MESH_ADMIN_TOKEN, needless on loopback).
func (c *chanCall) completions(cmd, push *cobra.Command) {
	ctl := &control{endpoint: c.endpoint, token: &secret{flag: "token", env: "MESH_ADMIN_TOKEN"}}
	completeFlag(cmd, "session", ctl, sessionIDs)
	completeFlag(push, "target", ctl, partnerIDs)
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

// chanCall is one `mesh chan` call. It is the transport of its client
// too, to add the container token and the x-ptp-token.
type chanCall struct {
	*endpoint
	token, ptpToken *secret
	session, target string
	output          string // of pop and peek: raw or json
}

func (c *chanCall) client() *client.HTTP {
	return &client.HTTP{URL: c.url(""), Session: c.session, Target: c.target, Raw: true,
		Client: &http.Client{Transport: c}}
}

// call makes the chan call m on the node and returns its answer; a failure
// reply is a *ptp.Error with the node's code and message.
func (c *chanCall) call(cmd *cobra.Command, m ptp.Method, topic string, payload []byte, timeout int) (client.Answer, error) {
	a, err := c.client().Call(cmd.Context(), m, topic, payload, timeout)
	return a, c.check(a, err)
}

// RoundTrip sends req with the container token and the x-ptp-token, if
// any.
func (c *chanCall) RoundTrip(req *http.Request) (*http.Response, error) {
	tr, err := c.transport()
	if err != nil {
		return nil, err
	}
	token, err := c.token.value()
	if err != nil {
		return nil, err
	}
	if req, err = c.withTokens(req, token); err != nil {
		return nil, err
	}
	return tr.RoundTrip(req)
}

// withTokens is req with the container token (as a bearer token) and the
// x-ptp-token, those that are set; neither goes in plaintext to another
// machine unless forced.
func (c *chanCall) withTokens(req *http.Request, container string) (*http.Request, error) {
	ptpToken, err := c.ptpToken.value()
	if err != nil || (container == "" && ptpToken == "") {
		return req, err
	}
	req = req.Clone(req.Context())
	if container != "" {
		if err := c.checkToken("container token"); err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+container)
	}
	if ptpToken != "" {
		if err := c.checkToken("ptp token"); err != nil {
			return nil, err
		}
		req.Header.Set(ptp.HeaderToken, ptpToken)
	}
	return req, nil
}

// check turns an answer into the command's error, with the node's message.
func (c *chanCall) check(a client.Answer, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("node at %s: %w", c.addr, err)
	case a.Code == "":
		return fmt.Errorf("node at %s answered without a PTP code", c.addr)
	case a.Code != ptp.OK:
		return &ptp.Error{Code: a.Code, Msg: a.Message}
	}
	return nil
}

// delivery prints what became of a push to a partner: delivered, or queued
// in the outbox while the partner is unreachable.
func (c *chanCall) delivery(w io.Writer, a client.Answer) error {
	switch a.Delivery {
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

// errNoMessage is a pop that timed out or a peek of an empty topic: the
// command exits with status 3, so that a script can tell it from a message
// of 0 bytes (status 0).
func errNoMessage(what string) error {
	return exitError{status: 3, err: fmt.Errorf("no message %s", what)}
}

// popped is a popped or peeked message as -o json prints it, one a line.
type popped struct {
	Topic   string `json:"topic"`
	ID      string `json:"id"`
	Size    int    `json:"size"`
	Payload []byte `json:"payload"`
}

// write prints the popped or peeked payload of a (checked, with err, by
// call): its bytes, or with -o json one JSON line. No message (the reply
// carries no message id) is errNoMessage; none says when ("within 5s").
func (c *chanCall) write(w io.Writer, topic, none string, a client.Answer, err error) error {
	p := a.Payload
	switch {
	case err != nil:
		return err
	case a.ID == "" && len(p) == 0:
		return errNoMessage(none)
	case c.output == "json":
		return json.NewEncoder(w).Encode(popped{Topic: topic, ID: a.ID, Size: len(p), Payload: p})
	}
	_, err = w.Write(p)
	return err
}
