package meshclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	meshclient "github.com/ppcmesh/mesh/sdk/client/go"
)

// A consumer calls mesh.trust.apply (the older Mesh client's README
// example) at woven partner node-b, through its own node.
func ExampleCall() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var token string
	err := meshclient.Call(ctx, "mesh.trust.apply", map[string]any{"kind": "PERMIT", "duration": 300000}, &token,
		meshclient.WithNode("127.0.0.1:7304"), meshclient.WithTarget("node-b", ""))
	fmt.Println(token, meshclient.CodeOf(err))
}

// A provider serves mesh.trust.verify to its institution and its partners
// until ctx ends, then withdraws it.
func ExampleServe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verify := func(ctx context.Context, args map[string]json.RawMessage) (any, error) {
		var token string
		if err := meshclient.RPCArg(args, "token", &token); err != nil {
			return nil, err // E0000000400 to the consumer
		}
		return strings.HasPrefix(token, "PERMIT:"), nil
	}
	if err := meshclient.Serve(ctx, "127.0.0.1:7304", "mesh.trust.verify", verify, meshclient.WithExposed()); err != nil {
		fmt.Println(err)
	}
}
