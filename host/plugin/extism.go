package plugin

import (
	"context"
	"fmt"

	extism "github.com/extism/go-sdk"
)

// extismModule is an auth policy or route handler compiled for the Extism
// guest ABI.
type extismModule struct {
	e        *Engine
	name     string
	compiled *extism.CompiledPlugin
}

func (e *Engine) compileExtism(ctx context.Context, r Record, spec KindSpec, wasm []byte) (*extismModule, error) {
	o := r.Options
	manifest := extism.Manifest{
		Wasm:         []extism.Wasm{extism.WasmData{Data: wasm}},
		Memory:       &extism.ManifestMemory{MaxPages: uint32(o.maxMemoryMB() * (1 << 20) / pageSize)},
		Config:       r.Config,
		AllowedHosts: o.AllowHosts,
		AllowedPaths: o.AllowPaths,
		Timeout:      uint64(o.timeout(spec).Milliseconds()),
	}
	c, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{
		EnableWasi:    true,
		RuntimeConfig: e.runtimeConfig(o),
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return &extismModule{e: e, name: r.Name, compiled: c}, nil
}

func (m *extismModule) close(ctx context.Context) { m.compiled.Close(ctx) }

type extismInstance struct{ p *extism.Plugin }

func (m *extismModule) instance(ctx context.Context) (instance, error) {
	p, err := m.compiled.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: m.e.moduleConfig(m.name)})
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	log := m.e.log.With("plugin", m.name)
	p.SetLogger(func(l extism.LogLevel, msg string) { log.Info(msg, "level", l.String()) })
	return extismInstance{p}, nil
}

// call runs fn on input. Any failure discards the instance: Extism does not
// tell a guest's own error from a trap reliably enough to keep it.
func (in extismInstance) call(ctx context.Context, fn string, input []byte) ([]byte, error) {
	rc, out, err := in.p.CallWithContext(ctx, fn, input)
	if err != nil {
		return nil, trapped(err)
	}
	if rc != 0 {
		return nil, fmt.Errorf("%s returned %d", fn, rc)
	}
	return out, nil
}

func (in extismInstance) close(ctx context.Context) { in.p.Close(ctx) }
