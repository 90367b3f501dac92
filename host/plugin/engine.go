package plugin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Defaults of the host's per-plugin options.
const (
	DefaultMaxMemoryMB = 256
	DefaultPool        = 4
	DefaultCacheTTL    = 5 * time.Second
	pageSize           = 64 << 10
)

// Engine compiles and instantiates plugins. It owns the compilation cache
// that makes reloading a known module cheap.
type Engine struct {
	cache wazero.CompilationCache
	log   *slog.Logger
}

// NewEngine returns an Engine whose compilation cache lives in dir (none
// when dir is empty), logging plugins' output to log.
func NewEngine(dir string, log *slog.Logger) (*Engine, error) {
	e := &Engine{log: log}
	if log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		e.cache = wazero.NewCompilationCache()
		return e, nil
	}
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plugin compilation cache %s: %w", dir, err)
	}
	e.cache = c
	return e, nil
}

// Close releases the compilation cache.
func (e *Engine) Close(ctx context.Context) error { return e.cache.Close(ctx) }

// runtimeConfig is the wazero configuration of one plugin: its memory cap,
// the shared compilation cache, and calls that end when their context does.
func (e *Engine) runtimeConfig(o Options) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(uint32(o.maxMemoryMB() * (1 << 20) / pageSize)).
		WithCloseOnContextDone(true)
}

// inspectConfig is runtimeConfig without the memory cap (Inspect reports
// an oversized module itself, more clearly). It must close on context done
// like runtimeConfig: wazero keys its cache by the module's bytes and that
// flag, so the compile Inspect does is the one the plugin then reuses.
func (e *Engine) inspectConfig() wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().WithCompilationCache(e.cache).WithCloseOnContextDone(true)
}

// moduleConfig gives a guest the real clock and randomness (WASI's defaults
// are fake), its stderr as log lines, and nothing else.
func (e *Engine) moduleConfig(name string) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStderr(logWriter{e.log.With("plugin", name)}).
		WithStdout(logWriter{e.log.With("plugin", name)})
}

// Module is what inspecting a module found.
type Module struct {
	SHA256  string
	Size    int64
	Exports []string // exported function names, sorted
	MinMB   int64    // memory the module asks for at start
}

// Inspect compiles wasm to read its exports and memory; it does not run it.
func (e *Engine) Inspect(ctx context.Context, wasm []byte, o Options) (Module, error) {
	sum := sha256.Sum256(wasm)
	m := Module{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(wasm))}
	if !IsWasm(wasm) {
		return m, fmt.Errorf("not a WebAssembly module (no \\0asm magic)")
	}
	rt := wazero.NewRuntimeWithConfig(ctx, e.inspectConfig())
	defer rt.Close(ctx)
	c, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return m, fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	for name := range c.ExportedFunctions() {
		m.Exports = append(m.Exports, name)
	}
	slices.Sort(m.Exports)
	for _, mem := range memories(c) {
		m.MinMB = max(m.MinMB, int64(mem.Min())*pageSize>>20)
	}
	if m.MinMB > o.maxMemoryMB() {
		return m, fmt.Errorf("module asks for %d MiB of memory at start, over the cap of %d MiB (raise --max-memory)", m.MinMB, o.maxMemoryMB())
	}
	return m, nil
}

func memories(c wazero.CompiledModule) []api.MemoryDefinition {
	out := c.ImportedMemories()
	for _, m := range c.ExportedMemories() {
		out = append(out, m)
	}
	return out
}

// KindOf checks that m exports what kind k needs; an empty k is inferred
// as the one kind whose exports m has.
func KindOf(m Module, k Kind) (Kind, error) {
	if k != "" {
		s, err := Spec(k)
		if err != nil {
			return "", err
		}
		if missing := missingExports(m, s); len(missing) > 0 {
			return "", fmt.Errorf("module is not a %s plugin: it lacks the export(s) %s (world %s, see wit/ABI.md)", k, strings.Join(missing, ", "), s.World)
		}
		return k, nil
	}
	var fits []Kind
	for _, s := range Kinds {
		if len(missingExports(m, s)) == 0 {
			fits = append(fits, s.Kind)
		}
	}
	switch len(fits) {
	case 1:
		return fits[0], nil
	case 0:
		return "", fmt.Errorf("module fits no plugin kind: it exports %s; %s", orNone(m.Exports), kindNeeds())
	}
	return "", fmt.Errorf("module fits more than one kind (%v): say which with --kind", fits)
}

func missingExports(m Module, s KindSpec) []string {
	var out []string
	for _, x := range s.Exports {
		if !slices.Contains(m.Exports, x) {
			out = append(out, x)
		}
	}
	return out
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "no functions"
	}
	return strings.Join(xs, ", ")
}

func (o Options) maxMemoryMB() int64 {
	if o.MaxMemoryMB > 0 {
		return o.MaxMemoryMB
	}
	return DefaultMaxMemoryMB
}

func (o Options) pool() int {
	if o.Pool > 0 {
		return o.Pool
	}
	return DefaultPool
}

func (o Options) timeout(s KindSpec) time.Duration {
	if o.TimeoutMs > 0 {
		return time.Duration(o.TimeoutMs) * time.Millisecond
	}
	return s.Timeout
}

func (o Options) cacheTTL() time.Duration {
	if o.CacheTTLms != 0 {
		return time.Duration(o.CacheTTLms) * time.Millisecond
	}
	return DefaultCacheTTL
}

// logWriter turns a guest's output into log lines.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	if s := strings.TrimSpace(string(p)); s != "" {
		w.log.Info("plugin output", "text", s)
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}
