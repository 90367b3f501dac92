//go:build wasm

package pdk

// The extism:host/env imports, as the Extism kernel declares them.

//go:wasmimport extism:host/env input_length
func inputLength() uint64

//go:wasmimport extism:host/env input_load_u8
func inputLoadU8(off uint64) uint32

//go:wasmimport extism:host/env input_load_u64
func inputLoadU64(off uint64) uint64

//go:wasmimport extism:host/env alloc
func alloc(n uint64) uint64

//go:wasmimport extism:host/env free
func free(off uint64)

//go:wasmimport extism:host/env length
func length(off uint64) uint64

//go:wasmimport extism:host/env load_u8
func loadU8(off uint64) uint32

//go:wasmimport extism:host/env load_u64
func loadU64(off uint64) uint64

//go:wasmimport extism:host/env store_u8
func storeU8(off uint64, v uint32)

//go:wasmimport extism:host/env store_u64
func storeU64(off, v uint64)

//go:wasmimport extism:host/env output_set
func outputSet(off, n uint64)

//go:wasmimport extism:host/env error_set
func errorSet(off uint64)

//go:wasmimport extism:host/env config_get
func configGet(off uint64) uint64

//go:wasmimport extism:host/env var_get
func varGet(off uint64) uint64

//go:wasmimport extism:host/env var_set
func varSet(name, val uint64)

//go:wasmimport extism:host/env log_debug
func logDebug(off uint64)

//go:wasmimport extism:host/env log_info
func logInfo(off uint64)

//go:wasmimport extism:host/env log_warn
func logWarn(off uint64)

//go:wasmimport extism:host/env log_error
func logError(off uint64)
