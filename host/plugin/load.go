package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// loaded is a plugin ready to serve: its record and its pool of instances.
type loaded struct {
	rec  Record
	spec KindSpec
	pool *pool
	fp   string // fingerprint: what makes two loads interchangeable
}

// fingerprint names a record's module, configuration and options, so a
// change to any of them reloads the plugin and nothing else does.
func fingerprint(r Record) string {
	b, _ := json.Marshal(struct {
		Kind    Kind
		SHA256  string
		Config  map[string]string
		Options Options
	}{r.Kind, r.SHA256, r.Config, r.Options})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// load compiles wasm for r's kind and starts one instance, so a module that
// cannot instantiate or rejects its configuration fails here, not on the
// first request.
func (e *Engine) load(ctx context.Context, r Record, wasm []byte) (*loaded, error) {
	spec, err := Spec(r.Kind)
	if err != nil {
		return nil, err
	}
	var mod compiled
	switch spec.ABI {
	case Raw:
		mod, err = e.compileRaw(ctx, r, wasm)
	case Extism:
		mod, err = e.compileExtism(ctx, r, spec, wasm)
	}
	if err != nil {
		return nil, err
	}
	p := newPool(mod, r.Options.pool())
	in, err := p.get(ctx, ctx)
	if err != nil {
		mod.close(ctx)
		return nil, err
	}
	p.put(ctx, in, true)
	return &loaded{rec: r, spec: spec, pool: p, fp: fingerprint(r)}, nil
}

// call runs fn with the kind's deadline.
func (l *loaded) call(ctx context.Context, fn string, input []byte) ([]byte, error) {
	d := l.rec.Options.timeout(l.spec)
	out, err := l.pool.do(ctx, d, fn, input)
	if err != nil && err != ErrRetired && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("%s did not finish within %v: %w", fn, d, err)
	}
	return out, err
}
