// Command auth is a hostile Extism auth policy for the host's tests. Its
// behaviour is config "mode" (default ok), or, per call, a request token
// "mode:<mode>" (see ../README.md). It uses the SDK's pdk directly, so it
// can set output that is not JSON.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostile-auth.wasm ./auth
package main

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/ppcmesh/mesh/host/plugin/testdata/hostile"
	"github.com/ppcmesh/mesh/sdk/plugin/go/pdk"
)

// slept records that slowstart has slept once in this instance.
var slept bool

//go:wasmexport authorize
func authorize() int32 {
	var req struct {
		Token  string `json:"token"`
		Method string `json:"method"`
		Path   string `json:"path"`
		Caller string `json:"caller"`
	}
	_ = json.Unmarshal(pdk.Input(), &req)
	secret, _ := pdk.Config("secret")
	switch modeOf(req.Token) {
	case "loop":
		hostile.Loop()
	case "trap":
		hostile.Trap()
	case "oob":
		return int32(hostile.OOB())
	case "bomb":
		hostile.Bomb()
	case "garbage", "hugelen":
		pdk.Output([]byte("this is not JSON {"))
		return 0
	case "error":
		pdk.SetError(errors.New("hostile: error"))
		return 1
	case "deny":
		pdk.Output([]byte(`{"allow":false,"reason":"hostile: deny"}`))
		return 0
	case "leak":
		pdk.SetError(errors.New("hostile: failing with the secret " + secret))
		return 1
	case "leakpanic":
		panic("hostile: panicking with the secret " + secret)
	case "pathdeny":
		if deny, _ := pdk.Config("deny_path"); req.Path == deny {
			reason, _ := json.Marshal("hostile: saw " + req.Method + " " + req.Path + " from a " + req.Caller)
			pdk.Output([]byte(`{"allow":false,"ttl_ms":-1,"reason":` + string(reason) + `}`))
			return 0
		}
	case "slowstart":
		if !slept {
			delay, _ := pdk.Config("delay_ms")
			hostile.Sleep(delay)
			slept = true
		}
	}
	pdk.Output([]byte(`{"allow":true}`))
	return 0
}

// modeOf is the mode a "mode:<mode>" token names, else config "mode".
func modeOf(token string) string {
	if m, ok := strings.CutPrefix(token, "mode:"); ok {
		return m
	}
	m, _ := pdk.Config("mode")
	return m
}

// main is never run in a reactor.
func main() {}
