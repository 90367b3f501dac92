package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// rawModule is a codec compiled for the raw ABI, in a runtime of its own
// (its memory cap is its own).
type rawModule struct {
	e        *Engine
	name     string
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	config   []byte // the plugin's configuration as JSON, for mesh_configure
	capBytes uint64 // the memory cap of an instance
}

func (e *Engine) compileRaw(ctx context.Context, r Record, wasm []byte) (*rawModule, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, e.runtimeConfig(r.Options))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("compile: %w", err)
	}
	cfg, _ := json.Marshal(orEmpty(r.Config))
	return &rawModule{e: e, name: r.Name, rt: rt, compiled: c, config: cfg, capBytes: uint64(r.Options.maxMemoryMB()) << 20}, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (m *rawModule) close(ctx context.Context) { m.rt.Close(ctx) }

// rawInstance is one instance of a raw codec; not safe for concurrent use.
type rawInstance struct {
	mod   api.Module
	mem   api.Memory
	alloc api.Function
	fns   map[string]api.Function
	stack [2]uint64
	cap   uint64 // the memory cap, bytes
}

// instance instantiates the module (running _initialize) and hands it its
// configuration.
func (m *rawModule) instance(ctx context.Context) (instance, error) {
	mod, err := m.rt.InstantiateModule(ctx, m.compiled, m.e.moduleConfig(m.name).WithStartFunctions(ExportInitialize))
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	in := &rawInstance{mod: mod, mem: mod.Memory(), alloc: mod.ExportedFunction(ExportAlloc), fns: map[string]api.Function{}, cap: m.capBytes}
	if in.mem == nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("module exports no memory")
	}
	for _, name := range []string{ExportEncode, ExportDecode} {
		in.fns[name] = mod.ExportedFunction(name)
	}
	if f := mod.ExportedFunction(ExportConfigure); f != nil {
		in.fns[ExportConfigure] = f
		if _, err := in.call(ctx, ExportConfigure, m.config); err != nil {
			mod.Close(ctx)
			return nil, fmt.Errorf("configure: %w", err)
		}
	}
	return in, nil
}

// errGuest is a failure the guest reported itself; its instance stays good.
type errGuest struct{ msg string }

func (e errGuest) Error() string { return e.msg }

// call writes input into the guest, calls fn and copies its result out.
func (in *rawInstance) call(ctx context.Context, fn string, input []byte) ([]byte, error) {
	f := in.fns[fn]
	if f == nil {
		return nil, fmt.Errorf("no export %s", fn)
	}
	in.stack[0] = uint64(len(input))
	if err := in.alloc.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, fmt.Errorf("%s: %w", ExportAlloc, in.fault(ctx, err, len(input)))
	}
	ptr := uint32(in.stack[0])
	if len(input) > 0 && !in.mem.Write(ptr, input) {
		return nil, fmt.Errorf("%s returned %d, outside memory, for %d bytes", ExportAlloc, ptr, len(input))
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(input))
	if err := f.CallWithStack(ctx, in.stack[:]); err != nil {
		return nil, in.fault(ctx, trapped(err), len(input))
	}
	if fn == ExportConfigure && in.stack[0] == 0 {
		return nil, nil
	}
	p, n, isErr := Unpack(in.stack[0])
	out, ok := in.mem.Read(p, n)
	if !ok {
		return nil, fmt.Errorf("%s returned %d bytes at %d, outside the guest's %d bytes of memory", fn, n, p, in.mem.Size())
	}
	if isErr {
		return nil, errGuest{string(out)}
	}
	return append([]byte(nil), out...), nil
}

func (in *rawInstance) close(ctx context.Context) { in.mod.Close(ctx) }

// fault explains a trap with n bytes of input: a guest whose memory in use
// and input together pass its cap most likely trapped because memory.grow
// failed. Kits without a runtime (C, Rust, AssemblyScript) trap there
// without a word, unlike Go's "out of memory".
func (in *rawInstance) fault(ctx context.Context, err error, n int) error {
	size := uint64(in.mem.Size())
	if ctx.Err() != nil || in.cap == 0 || size+uint64(n) <= in.cap {
		return err
	}
	return fmt.Errorf("%w (out of memory, most likely: %d MiB in use and %d MiB of input, under a cap of %d MiB)", err, size>>20, n>>20, in.cap>>20)
}

// trapped keeps the first line of a guest failure: wazero appends the wasm
// stack trace, which is for the plugin's author (logged), not the caller.
func trapped(err error) error {
	msg, _, cut := strings.Cut(err.Error(), "\n")
	if !cut {
		return err
	}
	return fmt.Errorf("%s", msg)
}

// reusable says whether an instance may serve again after err: only a
// failure the guest reported itself leaves it in a known state.
func reusable(err error) bool {
	var g errGuest
	return err == nil || errors.As(err, &g)
}
