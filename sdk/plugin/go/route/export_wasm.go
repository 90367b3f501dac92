//go:build wasm

package route

//go:wasmexport handle
func handle() int32 { return serve() }
