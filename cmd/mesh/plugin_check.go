package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/plugin"
)

// pluginTestCmd is `mesh plugin test FILE.wasm`: the plugin run offline in
// the node's own engine, with sample calls of its kind.
func pluginTestCmd() *cobra.Command {
	var (
		in    installFlags
		input string
	)
	cmd := &cobra.Command{
		Use:   "test FILE.wasm [--kind codec|auth|route] [--config KEY=VALUE ...] [--input FILE]",
		Short: "Run a plugin here, in the node's engine, and check that it behaves (no node needed)",
		Long: `test loads a WebAssembly module as a node would (the same checks of its exports,
compile, instantiation, configuration, pool, call deadline and memory cap), then
calls it with samples of its kind and prints a line per call with its timing:

  codec  decode(encode(x)) == x for empty input, small text, every byte value,
         1 MiB of random bytes and the --input file
  auth   authorize on a container push and pop, a partner push, a release (or the
         AuthRequest JSON in --input): each answer must be an auth decision
  route  handle on a GET and a POST of each --prefix (default /) (or the
         RouteRequest JSON in --input): each answer must be a route response

It exits non-zero naming the check that failed and why: a trap, a call past its
deadline, the memory cap, an answer the node would refuse. Kinds are found from
the exports as for install:

` + kindsHelp() + `
  mesh plugin test gzip.wasm
  mesh plugin test policy.wasm --config nodes=node-b --input request.json
  mesh plugin test hello.wasm --prefix /hello --timeout 500ms`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.timeoutChanged = cmd.Flags().Changed("timeout")
			return runPluginTest(cmd.Context(), cmd.OutOrStdout(), args[0], &in, input)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.kind, "kind", "", "codec, auth or route (default: the one kind the module's exports fit)")
	f.StringArrayVar(&in.config, "config", nil, "KEY=VALUE handed to the plugin (repeatable)")
	f.StringVar(&in.configFile, "config-file", "", "file of KEY=VALUE lines handed to the plugin (# comments); --config wins")
	f.StringVar(&input, "input", "", "codec: a file to round-trip too; auth: an AuthRequest JSON; route: a RouteRequest JSON (one object or an array)")
	f.DurationVar(&in.timeout, "timeout", 0, "deadline of one call (default per kind: "+kindTimeouts()+")")
	f.Int64Var(&in.maxMemory, "max-memory", 0, "cap of the module's linear memory in MiB (default 256)")
	f.StringArrayVar(&in.prefixes, "prefix", nil, "route: a URL path or x-ptp-uri prefix it handles (repeatable; default /)")
	return cmd
}

// runPluginTest loads file as `mesh plugin install` would read it, then runs
// its kind's checks, printing a table of the calls to w.
func runPluginTest(ctx context.Context, w io.Writer, file string, in *installFlags, input string) error {
	var req plugin.InstallRequest
	if err := readInstall(&req, in, file); err != nil {
		return err
	}
	var extra []byte
	if input != "" {
		b, err := os.ReadFile(input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		extra = b
	}
	e, err := plugin.NewEngine("", nil)
	if err != nil {
		return err
	}
	defer e.Close(context.WithoutCancel(ctx))
	start := time.Now()
	t, err := e.Trial(ctx, req.Wasm, req.Kind, req.Config, req.Options)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	defer t.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(w, "%s: %s plugin (%s ABI), %s, sha256 %s…\n", file, t.Kind, t.Spec.ABI, size(t.Module.Size), short(t.Module.SHA256))
	fmt.Fprintf(w, "loaded in %s (compile, instantiate, configure); deadline %s a call, memory cap %d MiB\n\n",
		elapsed(time.Since(start)), t.Timeout(), t.MaxMemoryMB())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tINPUT\tIN\tOUT\tTIME\tRESULT")
	r := &trialRun{t: t, tw: tw}
	switch t.Kind {
	case plugin.Codec:
		err = r.codec(ctx, extra, input)
	case plugin.Auth:
		err = r.auth(ctx, extra)
	case plugin.Route:
		err = r.route(ctx, extra, req.Options.Prefixes)
	}
	tw.Flush()
	if err != nil {
		return err
	}
	if r.note != "" {
		fmt.Fprintf(w, "\n%s", r.note)
	}
	fmt.Fprintf(w, "\nok: %d calls, every check passed\n", r.calls)
	return nil
}

// trialRun makes the calls of one test and prints a row for each.
type trialRun struct {
	t     *plugin.Trial
	tw    io.Writer
	calls int
	note  string // said after the table, when the calls passed but proved little
}

// row prints one call.
func (r *trialRun) row(fn, what string, in, out int, d time.Duration, result string) {
	r.calls++
	fmt.Fprintf(r.tw, "%s\t%s\t%s\t%s\t%s\t%s\n", fn, what, size(int64(in)), size(int64(out)), elapsed(d), result)
}

// sample is a named input.
type sample struct {
	name string
	data []byte
}

// codecSamples are the inputs a codec must round-trip.
func codecSamples(extra []byte, file string) []sample {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	random := make([]byte, 1<<20)
	rand.Read(random)
	s := []sample{
		{"empty input", []byte{}},
		{"small text", []byte("Hello, mesh! Grüße, 你好 ✓\n")},
		{"binary (all 256 byte values)", all},
		{"1 MiB of random bytes", random},
	}
	if file != "" {
		s = append(s, sample{"the --input file " + file, extra})
	}
	return s
}

// codec checks decode(encode(x)) == x over the samples.
func (r *trialRun) codec(ctx context.Context, extra []byte, file string) error {
	for _, s := range codecSamples(extra, file) {
		enc, err := r.timed(ctx, plugin.ExportEncode, s.name, s.data, func([]byte) string { return "ok" })
		if err != nil {
			return fmt.Errorf("codec check on %s: %w", s.name, err)
		}
		var diff string
		_, err = r.timed(ctx, plugin.ExportDecode, s.name, enc, func(out []byte) string {
			if diff = difference(out, s.data); diff != "" {
				return "round trip FAILED"
			}
			return "round trip ok"
		})
		if err != nil {
			return fmt.Errorf("codec check on %s: %w", s.name, err)
		}
		if diff != "" {
			return fmt.Errorf("codec round trip failed on %s: decode(encode(x)) %s", s.name, diff)
		}
	}
	return nil
}

// timed calls fn on input and prints its row, with result(out) on success.
func (r *trialRun) timed(ctx context.Context, fn, what string, input []byte, result func([]byte) string) ([]byte, error) {
	start := time.Now()
	out, err := r.t.Call(ctx, fn, input)
	d := time.Since(start)
	if err != nil {
		r.row(fn, what, len(input), 0, d, "FAILED")
		return nil, err
	}
	r.row(fn, what, len(input), len(out), d, result(out))
	return out, nil
}

// difference says where got differs from want, "" when it does not.
func difference(got, want []byte) string {
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			return fmt.Sprintf("differs from x at byte %d", i)
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("is %d bytes long, x is %d (equal up to there)", len(got), len(want))
	}
	return ""
}

// authSamples are the requests an auth policy is asked about: this node is
// node-a, its partner node-b.
func authSamples() []namedAuth {
	base := plugin.AuthRequest{Session: "mesh-plugin-test", Topic: "test", RemoteAddr: "127.0.0.1:50000", Caller: "container", SourceNode: "node-a", TargetNode: "node-b"}
	with := func(name string, f func(*plugin.AuthRequest)) namedAuth {
		r := base
		f(&r)
		return namedAuth{name, r}
	}
	return []namedAuth{
		with("container push", func(r *plugin.AuthRequest) { r.Method = "push" }),
		with("container pop", func(r *plugin.AuthRequest) { r.Method = "pop" }),
		with("partner push", func(r *plugin.AuthRequest) {
			r.Method, r.Caller, r.SourceNode, r.TargetNode, r.TLSIdentity, r.RemoteAddr = "push", "partner", "node-b", "node-a", "node-b", "192.0.2.10:41000"
		}),
		with("container release", func(r *plugin.AuthRequest) { r.Method = "release" }),
	}
}

// namedAuth is an auth request with its name for the table.
type namedAuth struct {
	name string
	req  plugin.AuthRequest
}

// auth asks the policy about the samples, or the --input requests.
func (r *trialRun) auth(ctx context.Context, extra []byte) error {
	reqs := authSamples()
	if extra != nil {
		var in []plugin.AuthRequest
		if err := readJSONs(extra, &in); err != nil {
			return fmt.Errorf("--input: not an AuthRequest JSON (see wit/ABI.md): %w", err)
		}
		reqs = reqs[:0]
		for i, q := range in {
			reqs = append(reqs, namedAuth{fmt.Sprintf("--input #%d: %s %s", i+1, q.Caller, q.Method), q})
		}
	}
	for _, q := range reqs {
		in, _ := json.Marshal(q.req)
		start := time.Now()
		d, err := r.t.Authorize(ctx, q.req)
		took := time.Since(start)
		if err != nil {
			r.row(plugin.ExportAuthorize, q.name, len(in), 0, took, "FAILED")
			return fmt.Errorf("auth check on %s: %w", q.name, err)
		}
		out, _ := json.Marshal(d)
		r.row(plugin.ExportAuthorize, q.name, len(in), len(out), took, decision(d))
	}
	return nil
}

// decision is an auth decision for the table.
func decision(d plugin.AuthDecision) string {
	var b strings.Builder
	if d.Allow {
		b.WriteString("allow")
	} else {
		b.WriteString("deny")
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", d.Reason)
	}
	if len(d.Headers) > 0 {
		var hs []string
		for _, k := range slices.Sorted(maps.Keys(d.Headers)) {
			hs = append(hs, k+"="+d.Headers[k])
		}
		fmt.Fprintf(&b, " headers=%s", strings.Join(hs, ","))
	}
	switch {
	case d.TTLms < 0:
		b.WriteString(" ttl=uncached")
	case d.TTLms > 0:
		fmt.Fprintf(&b, " ttl=%s", time.Duration(d.TTLms)*time.Millisecond)
	default:
		b.WriteString(" ttl=default")
	}
	return b.String()
}

// routeSamples are a GET and a POST of each prefix.
func routeSamples(prefixes []string) []plugin.RouteRequest {
	if len(prefixes) == 0 {
		prefixes = []string{"/"}
	}
	var out []plugin.RouteRequest
	for _, p := range prefixes {
		out = append(out,
			plugin.RouteRequest{Method: "GET", Path: p, Headers: map[string]string{"user-agent": "mesh-plugin-test"}, RemoteAddr: "127.0.0.1:50000"},
			plugin.RouteRequest{Method: "POST", Path: p, Query: "probe=1", Body: []byte(`{"hello":"mesh"}`),
				Headers: map[string]string{"content-type": "application/json", "user-agent": "mesh-plugin-test"}, RemoteAddr: "127.0.0.1:50000"})
	}
	return out
}

// route asks the handler about the samples, or the --input requests.
func (r *trialRun) route(ctx context.Context, extra []byte, prefixes []string) error {
	reqs := routeSamples(prefixes)
	if extra != nil {
		reqs = nil
		if err := readJSONs(extra, &reqs); err != nil {
			return fmt.Errorf("--input: not a RouteRequest JSON (see wit/ABI.md): %w", err)
		}
	}
	answered := false
	defer func() {
		if !answered && len(reqs) > 0 {
			r.note = "note: every request got next, so nothing the handler answers was checked: give --prefix the paths it serves, or --input requests"
		}
	}()
	for _, q := range reqs {
		in, _ := json.Marshal(q)
		name := q.Method + " " + q.Path
		if len(q.Body) > 0 {
			name += fmt.Sprintf(" (%s body)", size(int64(len(q.Body))))
		}
		start := time.Now()
		resp, err := r.t.Handle(ctx, q)
		took := time.Since(start)
		if err != nil {
			r.row(plugin.ExportHandle, name, len(in), 0, took, "FAILED")
			return fmt.Errorf("route check on %s: %w", name, err)
		}
		out, _ := json.Marshal(resp)
		r.row(plugin.ExportHandle, name, len(in), len(out), took, routeAction(resp))
		answered = answered || resp.Action != plugin.ActionNext
	}
	return nil
}

// routeAction is a route response for the table.
func routeAction(r plugin.RouteResponse) string {
	switch r.Action {
	case plugin.ActionRespond:
		s := fmt.Sprintf("respond status=%d", cmpStatus(r.Status))
		if ct := r.Headers["content-type"]; ct != "" {
			s += fmt.Sprintf(" content-type=%q", ct)
		}
		return s + " body=" + size(int64(len(r.Body)))
	case plugin.ActionForward:
		return "forward target=" + r.Target
	}
	return r.Action
}

// cmpStatus is a respond's status, 200 when it gives none.
func cmpStatus(s int) int {
	if s == 0 {
		return 200
	}
	return s
}

// readJSONs reads one JSON object or an array of them into out (a pointer
// to a slice).
func readJSONs[T any](b []byte, out *[]T) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, out); err != nil {
			return err
		}
		if len(*out) == 0 {
			return errors.New("an empty array: no requests to try")
		}
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*out = append((*out)[:0], one)
	return nil
}

// elapsed is d rounded for the table.
func elapsed(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}
