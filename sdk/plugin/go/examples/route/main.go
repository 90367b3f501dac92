// Command route is an example Mesh route handler: it answers GET /hello
// and hands every other request back to the node.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hello.wasm .
package main

import (
	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
	"github.com/ppcmesh/mesh/sdk/plugin/go/route"
)

func init() { route.Register(handle) }

// handle greets GET /hello by the name in config "name".
func handle(r route.Request) (route.Response, error) {
	if r.Method != "GET" || r.Path != "/hello" {
		return route.Next(), nil
	}
	name, ok := pdk.Config("name")
	if !ok {
		name = "mesh"
	}
	resp := route.Respond(200, "Hello from "+name+"\n")
	resp.Headers = map[string]string{"content-type": "text/plain; charset=utf-8"}
	return resp, nil
}

// main is never run in a reactor; the package must still have one.
func main() {}
