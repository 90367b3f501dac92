package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/client"
	"github.com/ppcmesh/mesh/host/ptp"
)

// chanCmd is `mesh chan push|pop|peek|release`: the container API from the
// command line, against a running node.
func chanCmd() *cobra.Command {
	var addr, session string
	cmd := &cobra.Command{
		Use:   "chan",
		Short: "Push, pop, peek and release messages on a running node",
	}
	cmd.PersistentFlags().StringVar(&addr, "addr", envOr("MESH_ADDRESS", "127.0.0.1:7304"), "node address (env MESH_ADDRESS)")
	cmd.PersistentFlags().StringVar(&session, "session", "", "session id (required)")
	_ = cmd.MarkPersistentFlagRequired("session")
	c := func() *client.HTTP { return &client.HTTP{URL: "http://" + addr, Session: session, Raw: true} }

	var file string
	push := &cobra.Command{
		Use:   "push TOPIC [DATA]",
		Short: "Push DATA, or the bytes of --file, or standard input, to TOPIC",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := pushData(cmd, args, file)
			if err != nil {
				return err
			}
			return check(c().Push(args[0], data))
		},
	}
	push.Flags().StringVarP(&file, "file", "f", "", "read the payload from this file")

	var timeout int
	pop := &cobra.Command{
		Use:   "pop TOPIC",
		Short: "Pop the head of TOPIC to standard output, waiting up to --timeout ms",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return write(cmd.OutOrStdout())(c().Pop(args[0], timeout))
		},
	}
	pop.Flags().IntVar(&timeout, "timeout", 5000, "milliseconds to wait for a message")

	peek := &cobra.Command{
		Use:   "peek TOPIC",
		Short: "Print the head of TOPIC without removing it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return write(cmd.OutOrStdout())(c().Peek(args[0]))
		},
	}
	release := &cobra.Command{
		Use:   "release [TOPIC]",
		Short: "Drop TOPIC, or the whole session",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return check(c().Release(append(args, "")[0]))
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

// check turns a reply code into the command's error.
func check(code ptp.Code, err error) error {
	if err != nil {
		return err
	}
	if code != ptp.OK {
		return fmt.Errorf("%s: %s", code, code.Message())
	}
	return nil
}

// write prints a popped or peeked payload; an empty queue prints nothing.
func write(w io.Writer) func([]byte, ptp.Code, error) error {
	return func(p []byte, code ptp.Code, err error) error {
		if err := check(code, err); err != nil {
			return err
		}
		_, err = w.Write(p)
		return err
	}
}
