package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// run runs the mesh binary with env added and returns its standard output,
// standard error and exit status.
func run(t *testing.T, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, meshBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatalf("mesh %v: %v", args, err)
	}
	return out.String(), errOut.String(), status
}

// TestUnknownSubcommandsFail checks that every group command refuses an
// unknown subcommand with a non-zero exit and a suggestion, instead of
// printing its help and exiting 0.
func TestUnknownSubcommandsFail(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"strat"}, `unknown command "strat" for mesh; Did you mean start?`},
		{[]string{"chan", "pusj"}, `unknown command "pusj" for mesh chan; Did you mean push?`},
		{[]string{"chan", "--session", "s", "pop-all"}, `unknown command "pop-all" for mesh chan`},
		{[]string{"net", "lst"}, `unknown command "lst" for mesh net; Did you mean list?`},
		{[]string{"node", "shw"}, `unknown command "shw" for mesh node; Did you mean show?`},
		{[]string{"plugin", "instal"}, `unknown command "instal" for mesh plugin; Did you mean install?`},
		{[]string{"plugin", "zzzzzz"}, `unknown command "zzzzzz" for mesh plugin`},
	} {
		_, stderr, status := run(t, nil, c.args...)
		if status == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("mesh %v: exit %d, stderr %q; want non-zero and %q", c.args, status, stderr, c.want)
		}
	}
	// A group on its own still shows its help, and succeeds.
	if out, stderr, status := run(t, nil, "chan"); status != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("mesh chan: exit %d, %q %q", status, out, stderr)
	}
}

// TestParseAddr is the table of --addr forms: the ones accepted and what
// they dial, and the ones refused with the reason.
func TestParseAddr(t *testing.T) {
	for _, c := range []struct {
		in, url, err string
	}{
		{in: "127.0.0.1:7304", url: "http://127.0.0.1:7304/x"},
		{in: "http://127.0.0.1:7304", url: "http://127.0.0.1:7304/x"}, // was http://http//…
		{in: "http://127.0.0.1:7304/", url: "http://127.0.0.1:7304/x"},
		{in: "https://node-a.example:443", url: "https://node-a.example:443/x"},
		{in: "[::1]:7304", url: "http://[::1]:7304/x"},
		{in: " localhost:7304 ", url: "http://localhost:7304/x"},
		{in: "127.0.0.1", err: "has no port"}, // never port 80
		{in: "http://127.0.0.1", err: "has no port"},
		{in: "https://node-a.example", err: "has no port"},
		{in: "grpc://127.0.0.1:7304", err: `scheme "grpc"`},
		{in: "ftp://127.0.0.1:7304", err: `scheme "ftp"`},
		{in: "http://http//127.0.0.1:7304", err: "without a path"},
		{in: "127.0.0.1:7304/v1", err: "without a path"},
		{in: "127.0.0.1:0", err: "port from 1 to 65535"},
		{in: "127.0.0.1:http", err: "port from 1 to 65535"},
		{in: ":7304", err: "with a host"},
		{in: "", err: "has no port"},
	} {
		_, err := parseAddr(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parseAddr(%q): %v, want an error with %q", c.in, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("parseAddr(%q): %v", c.in, err)
		case c.err == "":
			if got := (&endpoint{addr: c.in}).url("/x"); got != c.url {
				t.Errorf("url of %q: %q, want %q", c.in, got, c.url)
			}
		}
	}
}

// TestAddrFormsAgainstANode uses each accepted --addr form against a real
// node, and checks that a bad one (flag or MESH_ADDRESS) fails before
// dialing anything.
func TestAddrFormsAgainstANode(t *testing.T) {
	addr := addrOf(startProc(t, t.TempDir()))
	for i, a := range []string{addr, "http://" + addr, "http://" + addr + "/"} {
		if _, stderr, status := run(t, nil, "chan", "--addr", a, "--session", "addr", "push", "t", "m"); status != 0 {
			t.Fatalf("push with --addr %q: exit %d: %s", a, status, stderr)
		}
		if out, stderr, status := run(t, nil, "chan", "--addr", a, "--session", "addr", "pop", "t"); status != 0 || out != "m" {
			t.Fatalf("pop %d with --addr %q: %q, exit %d: %s", i, a, out, status, stderr)
		}
		if out, stderr, status := run(t, nil, "node", "show", "--addr", a); status != 0 || !strings.Contains(out, "node_id") {
			t.Fatalf("node show with --addr %q: %q, exit %d: %s", a, out, status, stderr)
		}
	}
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"chan", "--addr", "127.0.0.1", "--session", "s", "pop", "t"}, "has no port"},
		{nil, []string{"node", "show", "--addr", "ftp://" + addr}, `scheme "ftp"`},
		{nil, []string{"load", "--addr", "127.0.0.1"}, "has no port"},
		{nil, []string{"load", "--addr", "https://" + addr}, "plain HTTP and gRPC"},
		{[]string{"MESH_ADDRESS=127.0.0.1"}, []string{"node", "show"}, "has no port"},
		{[]string{"MESH_ADDRESS=127.0.0.1"}, []string{"chan", "--session", "s", "peek", "t"}, "has no port"},
	} {
		if _, stderr, status := run(t, c.env, c.args...); status == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("mesh %v (%v): exit %d, %q; want %q", c.args, c.env, status, stderr, c.want)
		}
	}
}

// TestPopTellsTimeoutFromEmptyMessage checks the pop rule: a popped
// message, 0 bytes included, exits 0; a pop that times out exits 3 and says
// so; -o json prints one line per popped message with its size.
func TestPopTellsTimeoutFromEmptyMessage(t *testing.T) {
	env := []string{"MESH_ADDRESS=" + addrOf(startProc(t, t.TempDir()))}
	mesh := func(args ...string) (string, string, int) {
		return run(t, env, append([]string{"chan", "--session", "pop"}, args...)...)
	}
	for _, p := range []string{"", "ab", ""} {
		if _, stderr, status := mesh("push", "t", p); status != 0 {
			t.Fatalf("push %q: exit %d: %s", p, status, stderr)
		}
	}
	if out, stderr, status := mesh("peek", "t"); status != 0 || out != "" {
		t.Fatalf("peek of a 0-byte message: %q, exit %d: %s", out, status, stderr)
	}
	if out, stderr, status := mesh("pop", "t"); status != 0 || out != "" || stderr != "" {
		t.Fatalf("pop of a 0-byte message: %q, exit %d: %s", out, status, stderr)
	}
	for _, want := range []popped{{Topic: "t", Size: 2, Payload: []byte("ab")}, {Topic: "t", Size: 0}} {
		out, stderr, status := mesh("pop", "t", "-o", "json")
		var got popped
		if err := json.Unmarshal([]byte(out), &got); status != 0 || err != nil || strings.Count(out, "\n") != 1 ||
			got.Topic != want.Topic || got.Size != want.Size || string(got.Payload) != string(want.Payload) || got.ID == "" {
			t.Fatalf("pop -o json: %q (%+v, %v), exit %d: %s; want %+v", out, got, err, status, stderr, want)
		}
	}
	for _, o := range []string{"raw", "json"} {
		out, stderr, status := mesh("pop", "t", "--timeout", "50", "-o", o)
		if status != 3 || out != "" || !strings.Contains(stderr, "no message within 50ms") {
			t.Fatalf("timed-out pop -o %s: %q, exit %d, stderr %q; want exit 3, no message within 50ms", o, out, status, stderr)
		}
	}
	if _, stderr, status := mesh("peek", "t"); status != 3 || !strings.Contains(stderr, "no message queued") {
		t.Fatalf("peek of an empty topic: exit %d, %q", status, stderr)
	}
	if _, stderr, status := mesh("pop", "t", "-o", "yaml"); status == 0 || !strings.Contains(stderr, "want raw or json") {
		t.Fatalf("pop -o yaml: exit %d, %q", status, stderr)
	}
}

// TestLoadCountsAreExact checks that --count messages are sent whatever
// --concurrency divides it by.
func TestLoadCountsAreExact(t *testing.T) {
	addr := addrOf(startProc(t, t.TempDir()))
	for _, c := range [][2]string{{"10", "4"}, {"7", "7"}, {"13", "5"}} {
		var r loadResult
		cliJSON(t, addr, &r, "load", "--count", c[0], "--concurrency", c[1], "--transport", "http")
		if n, _ := strconv.Atoi(c[0]); r.Sent != int64(n) || r.Received != r.Sent || r.Errors != 0 {
			t.Fatalf("load --count %s --concurrency %s: %+v", c[0], c[1], r)
		}
	}
}

// TestPTPTokenFromTheCLI installs the token policy on a node process and
// checks that mesh chan and mesh load are refused without a token and served
// with one from --ptp-token-file or MESH_PTP_TOKEN, and that mesh load names
// the first error of each kind with its count.
func TestPTPTokenFromTheCLI(t *testing.T) {
	dir := t.TempDir()
	wasm := filepath.Join(dir, "token.wasm")
	_, data := plugintest.BuildBytes(t, "plugins/token")
	if err := os.WriteFile(wasm, data, 0o644); err != nil {
		t.Fatal(err)
	}
	conf, tokenFile := filepath.Join(dir, "token.conf"), filepath.Join(dir, "ptp-token")
	for f, v := range map[string]string{conf: "tokens = s3cret\n", tokenFile: "s3cret\n"} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := addrOf(startProc(t, t.TempDir()))
	if out, err := cli(t, addr, "", "plugin", "install", wasm, "--kind", "auth", "--config-file", conf); err != nil {
		t.Fatalf("install the token policy: %v %s", err, out)
	}
	env := []string{"MESH_ADDRESS=" + addr}
	chanCmd := func(env []string, args ...string) (string, string, int) {
		return run(t, env, append([]string{"chan", "--session", "tok"}, args...)...)
	}
	if _, stderr, status := chanCmd(env, "push", "t", "m"); status == 0 || !strings.Contains(stderr, string(ptp.Unauthorized)) ||
		!strings.Contains(stderr, "missing token") {
		t.Fatalf("push without a token: exit %d, %q", status, stderr)
	}
	if _, stderr, status := chanCmd(env, "push", "t", "m", "--ptp-token-file", tokenFile); status != 0 {
		t.Fatalf("push with --ptp-token-file: exit %d, %q", status, stderr)
	}
	if out, stderr, status := chanCmd(append(env, "MESH_PTP_TOKEN=s3cret"), "pop", "t"); status != 0 || out != "m" {
		t.Fatalf("pop with MESH_PTP_TOKEN: %q, exit %d, %q", out, status, stderr)
	}
	if _, stderr, status := chanCmd(env, "pop", "t", "--ptp-token", "s3cret"); status == 0 || !strings.Contains(stderr, "visible to every user") {
		t.Fatalf("--ptp-token on the command line: exit %d, %q", status, stderr)
	}

	for _, tr := range []string{"http", "grpc"} {
		out, stderr, status := run(t, env, "load", "--transport", tr, "--count", "10", "--concurrency", "4", "-o", "json")
		var r loadResult
		if err := json.Unmarshal([]byte(out), &r); err != nil || status == 0 || r.Errors != 4 || len(r.ErrorKinds) != 1 {
			t.Fatalf("%s load without a token: exit %d, %+v %v, %s", tr, status, r, err, stderr)
		}
		want := loadError{Kind: "push " + string(ptp.Unauthorized), Count: 4}
		if k := r.ErrorKinds[0]; k.Kind != want.Kind || k.Count != want.Count || !strings.Contains(k.First, "missing token") ||
			!strings.Contains(stderr, "4× push "+string(ptp.Unauthorized)+": ") {
			t.Fatalf("%s load without a token: %+v, stderr %q", tr, k, stderr)
		}
		r = loadResult{}
		cliJSON(t, addr, &r, "load", "--transport", tr, "--count", "10", "--concurrency", "4", "--ptp-token-file", tokenFile)
		if r.Sent != 10 || r.Received != 10 || r.Errors != 0 {
			t.Fatalf("%s load with the token: %+v", tr, r)
		}
	}
}
