package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"
)

// extismModule is an auth policy or route handler compiled for the Extism
// guest ABI, with what it was granted: its directories (an os.Root each)
// and the HTTP client of its allow_hosts.
type extismModule struct {
	e        *Engine
	name     string
	compiled *extism.CompiledPlugin
	fs       *grantedFS
	http     *http.Client // nil without allow_hosts
}

// compileExtism compiles wasm for r. Extism's own grants are not used: its
// directories follow symbolic links out of the grant, its allowed hosts
// match names on any port and its requests follow every redirect. The
// host mounts each allow_paths directory itself (grantfs.go) and serves
// http_request itself (granthttp.go).
func (e *Engine) compileExtism(ctx context.Context, r Record, spec KindSpec, wasm []byte) (*extismModule, error) {
	extismLogs.Do(func() { extism.SetLogLevel(extism.LogLevelInfo) })
	o := r.Options
	m := &extismModule{e: e, name: r.Name}
	funcs, wasm, err := m.grantHosts(o.AllowHosts, wasm)
	if err != nil {
		return nil, err
	}
	if m.fs, err = openGrants(o.AllowPaths); err != nil {
		m.closeGrants()
		return nil, err
	}
	manifest := extism.Manifest{
		Wasm:    []extism.Wasm{extism.WasmData{Data: wasm}},
		Memory:  &extism.ManifestMemory{MaxPages: uint32(o.maxMemoryMB() * (1 << 20) / pageSize)},
		Config:  r.Config,
		Timeout: uint64(o.timeout(spec).Milliseconds()),
	}
	m.compiled, err = extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{
		EnableWasi:    true,
		RuntimeConfig: e.runtimeConfig(o),
	}, funcs)
	if err != nil {
		m.closeGrants()
		return nil, fmt.Errorf("compile: %w", err)
	}
	return m, nil
}

// extismLogs lets guest log lines at info and above through the Extism
// SDK, whose global level drops them all by default; the node's logger
// filters them by the level slogLevel gives each. Debug and trace stay
// off: the SDK logs its own chatter at those levels ("Calling function",
// "WASI runtime detected", some of it to stderr before a logger is set),
// and a guest's debug lines cannot be told apart from it.
var extismLogs sync.Once

// slogLevel maps a PDK log level to the node's.
func slogLevel(l extism.LogLevel) slog.Level {
	switch l {
	case extism.LogLevelWarn:
		return slog.LevelWarn
	case extism.LogLevelError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// grantHosts prepares the HTTP grant: with allow_hosts, the module's
// http_request import is served by the host (httpFunction); without, it is
// left to Extism, which refuses every request.
func (m *extismModule) grantHosts(hosts []string, wasm []byte) ([]extism.HostFunction, []byte, error) {
	if len(hosts) == 0 {
		return nil, wasm, nil
	}
	gs, err := parseHostGrants(hosts)
	if err != nil {
		return nil, nil, err
	}
	patched, found, err := renameImport(wasm, extismEnv, httpRequestFn, grantEnv)
	if err != nil {
		return nil, nil, fmt.Errorf("allow_hosts: %w", err)
	}
	if !found {
		return nil, wasm, nil // it makes no HTTP requests
	}
	m.http = gs.client()
	return []extism.HostFunction{httpFunction(gs, m.http, m.e.log.With("plugin", m.name))}, patched, nil
}

func (m *extismModule) closeGrants() {
	if m.fs != nil {
		m.fs.close()
	}
	if m.http != nil {
		m.http.CloseIdleConnections()
	}
}

func (m *extismModule) close(ctx context.Context) {
	m.compiled.Close(ctx)
	m.closeGrants()
}

type extismInstance struct{ p *extism.Plugin }

func (m *extismModule) instance(ctx context.Context) (instance, error) {
	p, err := m.compiled.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: m.moduleConfig()})
	if err != nil {
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	log := m.e.log.With("plugin", m.name)
	p.SetLogger(func(l extism.LogLevel, msg string) { log.Log(ctx, slogLevel(l), msg) })
	return extismInstance{p}, nil
}

// moduleConfig is the engine's, with the granted directories mounted.
func (m *extismModule) moduleConfig() wazero.ModuleConfig {
	c := m.e.moduleConfig(m.name)
	if m.fs.empty() {
		return c
	}
	return c.WithFSConfig(m.fs.config)
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
