// Command grants is a hostile route handler for the host's tests of plugin
// grants: it tries to leave its directories and hosts, and fails with its
// secret configuration in the error (see ../README.md). The request path
// chooses the attempt, the query its arguments; the answer is 200 with
// what happened ("ok: ...", "error: ...").
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostile-grants.wasm ./grants
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
	"github.com/ppcmesh/mesh/sdk/plugin/go/route"
)

func init() { route.Register(handle) }

// handle runs the attempt the path names.
func handle(r route.Request) (route.Response, error) {
	q, _ := url.ParseQuery(r.Query)
	secret, _ := pdk.Config("secret")
	switch strings.TrimPrefix(r.Path, "/grants/") {
	case "read":
		b, err := os.ReadFile(q.Get("path"))
		return result(string(b), err), nil
	case "write":
		return result("written", os.WriteFile(q.Get("path"), r.Body, 0o644)), nil
	case "symlink":
		return result("linked", os.Symlink(q.Get("target"), q.Get("link"))), nil
	case "list":
		es, err := os.ReadDir(q.Get("path"))
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return result(strings.Join(names, ","), err), nil
	case "http":
		status, body := request(q.Get("method"), q.Get("url"), r.Body)
		return route.Respond(200, fmt.Sprintf("ok: status=%d\n%s", status, body)), nil
	case "fail":
		return route.Response{}, errors.New("hostile: failing with the secret " + secret)
	case "panic":
		panic("hostile: panicking with the secret " + secret)
	case "garbage":
		return route.Response{Action: "leak the secret " + secret}, nil
	}
	return route.Respond(404, "no such attempt"), nil
}

// result answers what an attempt did.
func result(ok string, err error) route.Response {
	if err != nil {
		return route.Respond(200, "error: "+err.Error())
	}
	return route.Respond(200, "ok: "+ok)
}

// request makes an HTTP request through Extism's http_request (the host
// traps the call when it refuses), returning the status and body.
func request(method, u string, body []byte) (int32, []byte) {
	req, _ := json.Marshal(map[string]any{"url": u, "method": method, "headers": map[string]string{"content-type": "application/json"}})
	var bodyAt uint64
	if len(body) > 0 {
		bodyAt = put(body)
	}
	out := httpRequest(put(req), bodyAt)
	return httpStatusCode(), get(out)
}

// put copies b into an Extism memory block.
func put(b []byte) uint64 {
	off := alloc(uint64(len(b)))
	for i, c := range b {
		storeU8(off+uint64(i), uint32(c))
	}
	return off
}

// get copies an Extism memory block out (none for 0).
func get(off uint64) []byte {
	if off == 0 {
		return nil
	}
	b := make([]byte, length(off))
	for i := range b {
		b[i] = byte(loadU8(off + uint64(i)))
	}
	return b
}

//go:wasmimport extism:host/env alloc
func alloc(n uint64) uint64

//go:wasmimport extism:host/env length
func length(off uint64) uint64

//go:wasmimport extism:host/env load_u8
func loadU8(off uint64) uint32

//go:wasmimport extism:host/env store_u8
func storeU8(off uint64, v uint32)

//go:wasmimport extism:host/env http_request
func httpRequest(req, body uint64) uint64

//go:wasmimport extism:host/env http_status_code
func httpStatusCode() int32

// main is never run in a reactor.
func main() {}
