//go:build wasm

package auth

//go:wasmexport authorize
func authorize() int32 { return serve() }
