package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// wasmFile builds the Go guest in dir and writes it to a file called name
// in the test's directory.
func wasmFile(t *testing.T, dir, name string) string {
	t.Helper()
	_, wasm := plugintest.BuildBytes(t, dir)
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// pluginTest runs `mesh plugin test` with args and returns its stdout, its
// stderr and its exit status; no node runs.
func pluginTest(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, meshBin, append([]string{"plugin", "test"}, args...)...)
	cmd.Env = append(os.Environ(), "MESH_ADDRESS=127.0.0.1:1") // nothing listens there: the test must not need a node
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatalf("mesh plugin test %v: %v", args, err)
	}
	return out.String(), errOut.String(), status
}

// callRow is one row of the timing table.
type callRow struct{ fn, input, result string }

// rowRE is a row of the table: CALL INPUT IN OUT TIME RESULT.
var rowRE = regexp.MustCompile(`^(encode|decode|authorize|handle)  +(.+?)  +(\d+(?:\.\d)? (?:B|KiB|MiB))  +(\d+(?:\.\d)? (?:B|KiB|MiB))  +(\S+)  +(.*?)\s*$`)

// calls parses the timing table of out: a header, then a row per call
// whose time is a duration.
func calls(t *testing.T, out string) (rows []callRow, took []time.Duration) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for i < len(lines) && strings.Join(strings.Fields(lines[i]), " ") != "CALL INPUT IN OUT TIME RESULT" {
		i++
	}
	if i == len(lines) {
		t.Fatalf("no timing table in:\n%s", out)
	}
	for _, l := range lines[i+1:] {
		if l == "" {
			break
		}
		m := rowRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("table row %q is not CALL INPUT IN OUT TIME RESULT in:\n%s", l, out)
		}
		d, err := time.ParseDuration(m[5])
		if err != nil || d <= 0 {
			t.Fatalf("row %q: time %q is not a duration", l, m[5])
		}
		rows = append(rows, callRow{m[1], m[2], m[6]})
		took = append(took, d)
	}
	return rows, took
}

// TestPluginTestPasses: the Go kit's three examples and gzip pass `mesh plugin
// test` with exit 0, a row per call, and their behaviour in the results.
func TestPluginTestPasses(t *testing.T) {
	input := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(input, bytes.Repeat([]byte("mesh plugin test "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	authReq := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(authReq, []byte(`[{"method":"push","session":"s","caller":"partner","source_node":"node-z","tls_identity":"node-z"},
		{"method":"pop","session":"s","caller":"container","unknown":1}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	codecRows := func(extra ...string) []callRow {
		var rows []callRow
		for _, in := range append([]string{"empty input", "small text", "binary (all 256 byte values)", "1 MiB of random bytes"}, extra...) {
			rows = append(rows, callRow{"encode", in, "ok"}, callRow{"decode", in, "round trip ok"})
		}
		return rows
	}
	const hello = `respond status=200 content-type="text/plain; charset=utf-8" body=16 B`
	for _, c := range []struct {
		name, dir string
		args      []string
		header    string
		rows      []callRow
	}{
		{"codec", "sdk/plugin/go/examples/codec", []string{"--config", "key=0x21"}, "codec plugin (raw ABI)", codecRows()},
		{"codec-input", "sdk/plugin/go/examples/codec", []string{"--input", input}, "codec plugin (raw ABI)", codecRows("the --input file " + input)},
		{"gzip", "plugins/gzip", []string{"--kind", "codec", "--max-memory", "64"}, "memory cap 64 MiB", codecRows()},
		{"auth", "sdk/plugin/go/examples/auth", []string{"--config", "nodes=node-c,node-b"}, "auth plugin (extism ABI)", []callRow{
			{"authorize", "container push", "allow ttl=default"}, {"authorize", "container pop", "allow ttl=default"},
			{"authorize", "partner push", "allow ttl=default"}, {"authorize", "container release", "allow ttl=default"}}},
		{"auth-refuses", "sdk/plugin/go/examples/auth", nil, "deadline 2s a call", []callRow{
			{"authorize", "container push", "allow ttl=default"}, {"authorize", "container pop", "allow ttl=default"},
			{"authorize", "partner push", `deny reason="node node-b is not on the allow-list" ttl=default`},
			{"authorize", "container release", "allow ttl=default"}}},
		{"auth-input", "sdk/plugin/go/examples/auth", []string{"--input", authReq}, "auth plugin", []callRow{
			{"authorize", "--input #1: partner push", `deny reason="node node-z is not on the allow-list" ttl=default`},
			{"authorize", "--input #2: container pop", "allow ttl=default"}}},
		{"route", "sdk/plugin/go/examples/route", []string{"--prefix", "/hello", "--timeout", "1500ms"}, "deadline 1.5s a call", []callRow{
			{"handle", "GET /hello", hello}, {"handle", "POST /hello (16 B body)", "next"}}},
		{"route-root", "sdk/plugin/go/examples/route", nil, "route plugin (extism ABI)", []callRow{
			{"handle", "GET /", "next"}, {"handle", "POST / (16 B body)", "next"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := wasmFile(t, c.dir, c.name+".wasm")
			out, errOut, status := pluginTest(t, append([]string{file}, c.args...)...)
			if status != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q, stdout:\n%s", status, errOut, out)
			}
			if !strings.HasPrefix(out, file+": ") || !strings.Contains(out, c.header) {
				t.Errorf("header does not say %q:\n%s", c.header, out)
			}
			rows, _ := calls(t, out)
			if len(rows) != len(c.rows) {
				t.Fatalf("%d calls, want %d:\n%s", len(rows), len(c.rows), out)
			}
			for i, r := range rows {
				if r != c.rows[i] {
					t.Errorf("call %d: %+v, want %+v", i+1, r, c.rows[i])
				}
			}
			if want := "\nok: " + strconv.Itoa(len(c.rows)) + " calls, every check passed\n"; !strings.HasSuffix(out, want) {
				t.Errorf("output does not end with %q:\n%s", want, out)
			}
			// A handler that passed only by answering next is told so.
			if note := strings.Contains(out, "note: every request got next"); note != (c.name == "route-root") {
				t.Errorf("the all-next note shown %v:\n%s", note, out)
			}
		})
	}
}

// kindDeadline is the default deadline of the kind a loop catch tests.
func kindDeadline(t *testing.T, name string) time.Duration {
	k := plugin.Codec
	if strings.HasPrefix(name, "auth") {
		k = plugin.Auth
	}
	s, err := plugin.Spec(k)
	if err != nil {
		t.Fatal(err)
	}
	return s.Timeout
}

// deadlines are the --timeout of the catches that run past it.
var deadlines = map[string]time.Duration{"loop": 300 * time.Millisecond, "auth-loop": 300 * time.Millisecond}

// inUseRE finds the memory a Go guest had when it ran out.
var inUseRE = regexp.MustCompile(`\( (\d+) in use\)`)

// TestPluginTestCatches: `mesh plugin test` fails with exit 1 and a message
// naming the check and the cause for each misbehaviour.
func TestPluginTestCatches(t *testing.T) {
	const (
		hostileCodec = "host/plugin/testdata/hostile/codec"
		hostileAuth  = "host/plugin/testdata/hostile/auth"
		lossy        = "host/plugin/testdata/hostile/lossy"
	)
	notWasm := filepath.Join(t.TempDir(), "plugin.wasm")
	if err := os.WriteFile(notWasm, []byte("#!/bin/sh\necho not wasm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbageRoute := filepath.Join(t.TempDir(), "garbage.json")
	if err := os.WriteFile(garbageRoute, []byte(`{"method":"GET","path":"/grants/garbage"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir string // dir "" : args[0] is the file
		args      []string
		want      string // the whole message on stderr, from its start
		failedRow string // the input of the last row, FAILED; "" when no table is printed
	}{
		{"loop", hostileCodec, []string{"--config", "mode=loop", "--timeout", "300ms"},
			"codec check on empty input: encode ran past its deadline of 300ms\n", "empty input"},
		{"trap", hostileCodec, []string{"--config", "mode=trap"},
			"codec check on empty input: encode trapped: wasm error: unreachable (the plugin printed: panic: hostile: trap)\n", "empty input"},
		{"bomb", hostileCodec, []string{"--config", "mode=bomb", "--max-memory", "32"},
			"codec check on empty input: encode hit the memory cap of 32 MiB (raise --max-memory if it needs more): wasm error: unreachable", "empty input"},
		{"guest-error", hostileCodec, []string{"--config", "mode=error"},
			`codec check on empty input: encode failed: the plugin returned the error "hostile: error"` + "\n", "empty input"},
		{"lossy", lossy, nil,
			"codec round trip failed on small text: decode(encode(x)) differs from x at byte 17\n", "small text"},
		{"lossy-short", lossy, []string{"--config", "mode=short"},
			"codec round trip failed on small text: decode(encode(x)) is 32 bytes long, x is 33 (equal up to there)\n", "small text"},
		{"auth-not-json", hostileAuth, []string{"--config", "mode=garbage"},
			`auth check on container push: authorize answered something that is not an auth decision (JSON {"allow": bool, ...}): invalid character`, "container push"},
		{"auth-loop", hostileAuth, []string{"--config", "mode=loop", "--timeout", "300ms"},
			"auth check on container push: authorize ran past its deadline of 300ms\n", "container push"},
		{"route-unknown-action", "host/plugin/testdata/hostile/grants", []string{"--input", garbageRoute},
			`route check on GET /grants/garbage: route handler trial answered unknown action "`, "GET /grants/garbage"},
		{"wrong-kind", "sdk/plugin/go/examples/route", []string{"--kind", "codec"},
			"exports: module is not a codec plugin: it lacks the export(s) mesh_alloc, encode, decode (world codec, see wit/ABI.md)\n", ""},
		{"bad-config", "sdk/plugin/go/examples/codec", []string{"--config", "key=0x100"},
			`load: configure: xor: key must be a byte (0-255), got "0x100"` + "\n", ""},
		{"not-wasm", "", []string{notWasm}, notWasm + " is not a WebAssembly module (it does not start with \\0asm)\n", ""},
		{"missing", "", []string{filepath.Join(t.TempDir(), "nothing.wasm")}, "open ", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.dir != "" {
				args = append([]string{wasmFile(t, c.dir, c.name+".wasm")}, args...)
			}
			out, errOut, status := pluginTest(t, args...)
			want := "mesh: " + c.want
			if c.dir != "" && c.failedRow == "" {
				want = "mesh: " + args[0] + ": " + c.want
			}
			if status != 1 || !strings.HasPrefix(errOut, want) {
				t.Fatalf("exit %d, stderr %q, want exit 1 and %q...; stdout:\n%s", status, errOut, want, out)
			}
			if c.failedRow == "" {
				if out != "" {
					t.Errorf("stdout %q, want nothing", out)
				}
				return
			}
			rows, took := calls(t, out)
			if last := rows[len(rows)-1]; last.input != c.failedRow || last.result != "FAILED" && last.result != "round trip FAILED" {
				t.Errorf("last call %+v, want %s FAILED:\n%s", last, c.failedRow, out)
			}
			// The --timeout applied, not the kind's default (codec 10 s, auth
			// 2 s): the call ended past it and before the default.
			if d := deadlines[c.name]; d > 0 && (took[len(took)-1] < d || took[len(took)-1] >= kindDeadline(t, c.name)) {
				t.Errorf("the call failed after %v, not at its deadline of %v", took[len(took)-1], d)
			}
			if c.name == "bomb" {
				// The guest's runtime says how much it had when the cap refused more.
				n := -1
				if m := inUseRE.FindStringSubmatch(errOut); m != nil {
					n, _ = strconv.Atoi(m[1])
				}
				if n < 0 || n > 32<<20 {
					t.Errorf("the bomb had more memory than the cap of 32 MiB: %q", errOut)
				}
			}
			if strings.Contains(out, "every check passed") {
				t.Errorf("a failed test says it passed:\n%s", out)
			}
		})
	}
}
