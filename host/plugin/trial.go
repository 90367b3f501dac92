package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Trial is one plugin loaded on its own, without a registry or a node: the
// same checks as an install (exports against the kind, prefixes), the same
// compile, instantiation, configuration, pool, deadline and memory cap as a
// node's, and calls that fail with a message for the plugin's author (what
// failed and why, the guest's own text included) rather than the node's
// reference to its log. `mesh plugin test` runs on it; tests use it to load
// a wasm file without a registry.
type Trial struct {
	Kind    Kind     // the kind checked, or found from the exports
	Module  Module   // what inspecting the module found
	Spec    KindSpec // the kind's row of the kinds table
	Options Options  // as given; Timeout and MaxMemoryMB are what applies

	l   *loaded
	out *guestOutput
}

// Trial checks wasm's exports against kind k (inferred when empty) and
// loads it with config and o as a node would. The error says which check
// failed: Inspect's (not WebAssembly, not valid, too much memory at start),
// "exports: ...", "prefixes: ..." or "load: ..." (instantiate, configure).
func (e *Engine) Trial(ctx context.Context, wasm []byte, k Kind, config map[string]string, o Options) (*Trial, error) {
	if len(wasm) > MaxModule {
		return nil, fmt.Errorf("module of %d bytes exceeds the node's limit of %d", len(wasm), MaxModule)
	}
	m, err := e.Inspect(ctx, wasm, o)
	if err != nil {
		return nil, err
	}
	kind, err := KindOf(m, k)
	if err != nil {
		return nil, fmt.Errorf("exports: %w", err)
	}
	if len(o.Prefixes) > 0 || kind != Route {
		if err := checkPrefixes(kind, o.Prefixes); err != nil {
			return nil, fmt.Errorf("prefixes: %w", err)
		}
	}
	spec, _ := Spec(kind)
	out := &guestOutput{}
	te := *e // the same engine (its compilation cache), its log teed to out
	te.log = slog.New(teeHandler{e.log.Handler(), out})
	l, err := te.load(ctx, Record{Name: "trial", Kind: kind, SHA256: m.SHA256, Size: m.Size, Config: config, Options: o}, wasm)
	if err != nil {
		return nil, fmt.Errorf("load: %w", explainOutput(err, out.take()))
	}
	return &Trial{Kind: kind, Module: m, Spec: spec, Options: o, l: l, out: out}, nil
}

// Timeout is the deadline of one call: the option, else the kind's default.
func (t *Trial) Timeout() time.Duration { return t.l.rec.Options.timeout(t.l.spec) }

// MaxMemoryMB is the cap of the module's linear memory, in MiB.
func (t *Trial) MaxMemoryMB() int64 { return t.l.rec.Options.maxMemoryMB() }

// Close releases the plugin's instances and compiled module.
func (t *Trial) Close(ctx context.Context) { t.l.pool.retire(ctx) }

// Call runs export fn over input through the pool and deadline a node
// uses. A failure names fn and says whether it ran past its deadline, hit
// the memory cap, trapped or returned an error.
func (t *Trial) Call(ctx context.Context, fn string, input []byte) ([]byte, error) {
	t.out.take()
	out, err := t.l.call(ctx, fn, input)
	if err != nil {
		return nil, t.explain(ctx, fn, err)
	}
	return out, nil
}

// Encode runs the codec's encode.
func (t *Trial) Encode(ctx context.Context, payload []byte) ([]byte, error) {
	return t.Call(ctx, ExportEncode, payload)
}

// Decode runs the codec's decode.
func (t *Trial) Decode(ctx context.Context, payload []byte) ([]byte, error) {
	return t.Call(ctx, ExportDecode, payload)
}

// Authorize runs the policy's authorize over req (with the host's clock,
// when req has none) and decodes its answer as the node does.
func (t *Trial) Authorize(ctx context.Context, req AuthRequest) (AuthDecision, error) {
	if req.Now == 0 {
		req.Now = time.Now().Unix()
	}
	in, _ := json.Marshal(req)
	out, err := t.Call(ctx, ExportAuthorize, in)
	if err != nil {
		return AuthDecision{}, err
	}
	d, err := decodeDecision(out)
	if err != nil {
		return AuthDecision{}, fmt.Errorf("%s %w", ExportAuthorize, err)
	}
	return d, nil
}

// Handle runs the handler's handle over req and checks its answer as the
// node does.
func (t *Trial) Handle(ctx context.Context, req RouteRequest) (RouteResponse, error) {
	in, _ := json.Marshal(req)
	out, err := t.Call(ctx, ExportHandle, in)
	if err != nil {
		return RouteResponse{}, err
	}
	return decodeRouteResponse("trial", out)
}

// explain says how call fn failed with err: past its deadline, at the
// memory cap, a trap, or an error the guest returned itself.
func (t *Trial) explain(ctx context.Context, fn string, err error) error {
	var g errGuest
	switch said := t.out.take(); {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return fmt.Errorf("%s ran past its deadline of %v", fn, t.Timeout())
	case outOfMemory(err.Error()) || outOfMemory(said):
		return fmt.Errorf("%s hit the memory cap of %d MiB (raise --max-memory if it needs more): %w", fn, t.MaxMemoryMB(), explainOutput(err, said))
	case errors.As(err, &g):
		return fmt.Errorf("%s failed: the plugin returned the error %q", fn, g.msg)
	case isTrap(err):
		return fmt.Errorf("%s trapped: %w", fn, explainOutput(err, said))
	default:
		return fmt.Errorf("%s failed: %w", fn, explainOutput(err, said))
	}
}

// isTrap reports whether err is the runtime's (a WebAssembly trap, or the
// guest exiting) rather than an error the guest set itself.
func isTrap(err error) bool {
	s := err.Error()
	return strings.Contains(s, "wasm error:") || strings.Contains(s, "exit_code(")
}

// outOfMemory reports whether a guest's words say it ran out of memory: the
// Go runtime's "fatal error: out of memory", Rust's "memory allocation of N
// bytes failed", AssemblyScript's and C's allocators' messages.
func outOfMemory(s string) bool {
	s = strings.ToLower(s)
	for _, w := range []string{"out of memory", "memory allocation", "allocation failed", "cannot allocate memory"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// explainOutput adds the start of what the guest printed to err.
func explainOutput(err error, said string) error {
	if said == "" {
		return err
	}
	if i := strings.Index(said, " goroutine "); i > 0 {
		said = said[:i] // a Go guest's stack trace follows
	}
	const shown = 240
	if len(said) > shown {
		said = strings.ToValidUTF8(said[:shown], "") + " …"
	}
	return fmt.Errorf("%w (the plugin printed: %s)", err, said)
}

// guestOutput keeps what a trial's plugin printed or logged since the last
// take: its first fragments (where a runtime says why it aborts), up to
// keptBytes.
type guestOutput struct {
	mu    sync.Mutex
	parts []string
	size  int
}

const keptBytes = 16 << 10

func (o *guestOutput) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.size < keptBytes {
		o.parts = append(o.parts, s)
		o.size += len(s)
	}
}

// take returns what was kept, fragments joined by a space, and forgets it.
func (o *guestOutput) take() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := strings.Join(o.parts, " ")
	o.parts, o.size = nil, 0
	return s
}

// teeHandler passes records on to next and keeps the plugin's output
// ("text" of a "plugin output" record, or an Extism log message) in out.
type teeHandler struct {
	next slog.Handler
	out  *guestOutput
}

func (h teeHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	text := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "text" {
			text = a.Value.String()
		}
		return true
	})
	h.out.add(text)
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.next.WithAttrs(as), h.out}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.next.WithGroup(name), h.out}
}
