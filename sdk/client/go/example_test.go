package meshclient_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/ppcmesh/mesh/host"
	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// The quick start: dial the node, open a session, push, pop. Here the node
// runs in-process on a temporary home (startNode); a container dials its
// node's address instead, e.g. os.Getenv("MESH_ADDRESS").
func Example() {
	addr, stop := startNode()
	defer stop()
	ctx := context.Background()

	t, _ := meshclient.Dial(ctx, addr) // gRPC; meshclient.WithHTTP() for HTTP
	defer t.Close()                    // releases the session
	s, _ := t.Open(ctx, "job-1", nil)  // meshclient.Metadata{meshclient.HeaderTargetNodeID: "node-b"} targets a partner
	_ = s.Push(ctx, "scores", []byte("0.93"), nil)
	msg, err := s.Pop(ctx, "scores", 10*time.Second)

	fmt.Printf("%s %v\n", msg, err)
	// Output: 0.93 <nil>
}

// startNode runs a node on 127.0.0.1:0 under a temporary home and returns
// its address and a function that stops it.
func startNode() (string, func()) {
	home, err := os.MkdirTemp("", "meshclient-example")
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(ctx, host.Config{Home: home, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	return h.Addr().String(), func() { cancel(); <-done; os.RemoveAll(home) }
}
