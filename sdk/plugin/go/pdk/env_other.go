//go:build !wasm

package pdk

import "github.com/ppcmesh/mesh/sdk/plugin/go/internal/fakehost"

// Outside wasm the imports are served by the in-process fake host.

func inputLength() uint64            { return fakehost.InputLength() }
func inputLoadU8(off uint64) uint32  { return fakehost.InputLoadU8(off) }
func inputLoadU64(off uint64) uint64 { return fakehost.InputLoadU64(off) }
func alloc(n uint64) uint64          { return fakehost.Alloc(n) }
func free(off uint64)                { fakehost.Free(off) }
func length(off uint64) uint64       { return fakehost.Length(off) }
func loadU8(off uint64) uint32       { return fakehost.LoadU8(off) }
func loadU64(off uint64) uint64      { return fakehost.LoadU64(off) }
func storeU8(off uint64, v uint32)   { fakehost.StoreU8(off, v) }
func storeU64(off, v uint64)         { fakehost.StoreU64(off, v) }
func outputSet(off, n uint64)        { fakehost.OutputSet(off, n) }
func errorSet(off uint64)            { fakehost.ErrorSet(off) }
func configGet(off uint64) uint64    { return fakehost.ConfigGet(off) }
func varGet(off uint64) uint64       { return fakehost.VarGet(off) }
func varSet(name, val uint64)        { fakehost.VarSet(name, val) }
func logDebug(off uint64)            { fakehost.Log("debug", off) }
func logInfo(off uint64)             { fakehost.Log("info", off) }
func logWarn(off uint64)             { fakehost.Log("warn", off) }
func logError(off uint64)            { fakehost.Log("error", off) }
