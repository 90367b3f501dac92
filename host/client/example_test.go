package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/client"
)

// Push a message to a session's topic on a node and pop it again, over
// HTTP. The node here is started in-process on a temporary home; a
// container would point URL at its node instead.
func ExampleHTTP() {
	home, err := os.MkdirTemp("", "mesh-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(home)
	ctx, stop := context.WithCancel(context.Background())
	h, err := host.New(ctx, host.Config{Home: home, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() { stop(); <-done }()

	c := &client.HTTP{URL: "http://" + h.Addr().String(), Session: "job-1"}
	code, err := c.Push(ctx, "scores", []byte("0.93"))
	fmt.Println("push:", code, err)
	msg, code, err := c.Pop(ctx, "scores", 1000) // wait up to 1 s
	fmt.Printf("pop: %s %q %v\n", code, msg, err)
	// Output:
	// push: E0000000000 <nil>
	// pop: E0000000000 "0.93" <nil>
}

// Push and pop over gRPC (PrivateTransferTransport). Not run: it needs a
// node listening at the address.
func ExampleGRPC() {
	cc, err := client.Dial("127.0.0.1:7304")
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	ctx := context.Background() // the caller's context bounds every call
	c := client.NewGRPC(cc, "job-1")
	if code, err := c.Push(ctx, "scores", []byte("0.93")); err != nil || code != "E0000000000" {
		log.Fatalf("push: %s, %v", code, err)
	}
	msg, _, err := c.Pop(ctx, "scores", 1000)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", msg)
}
