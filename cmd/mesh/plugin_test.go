package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/plugin"
	"github.com/ppcmesh/mesh/host/plugin/plugintest"
	"github.com/ppcmesh/mesh/host/ptp"
)

// TestPluginCommands installs a codec built from source with the CLI alone,
// against a node process, then lists, inspects, switches and removes it.
func TestPluginCommands(t *testing.T) {
	dir := t.TempDir()
	_, wasm := plugintest.BuildBytes(t, "plugins/gzip")
	file := filepath.Join(dir, "gzip.wasm") // the name the plugin takes
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	hash := hex.EncodeToString(sum[:])
	const secret = "s3cret-never-shown"
	conf := filepath.Join(dir, "gzip.conf")
	if err := os.WriteFile(conf, []byte("# handed to the plugin\nlevel = 9\nnote = "+secret+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := addrOf(startProc(t, t.TempDir()))
	mesh := func(args ...string) (string, error) { return cli(t, addr, "", append([]string{"plugin"}, args...)...) }
	list := func() []plugin.Record {
		var rs []plugin.Record
		cliJSON(t, addr, &rs, "plugin", "list")
		return rs
	}

	if out, err := mesh("list"); err != nil || !strings.Contains(out, "no plugins") {
		t.Fatalf("list before install: %q %v", out, err)
	}
	// The node loads the codec before it stores it: a bad config changes nothing.
	if _, err := mesh("install", file, "--config", "level=42"); err == nil ||
		!strings.Contains(err.Error(), string(ptp.BadRequest)+": install gzip: ") || !strings.Contains(err.Error(), "level must be 1-9") {
		t.Fatalf("install with a bad level: %v", err)
	}
	out, err := mesh("install", file, "--config-file", conf, "--timeout", "1500ms", "--max-memory", "64",
		"--pool", "2", "--sha256", strings.ToUpper(hash))
	if want := "installed gzip (codec, " + size(int64(len(wasm))) + ", sha256 " + hash[:12] + "…) — enabled\n"; err != nil || out != want {
		t.Fatalf("install: %q %v, want %q", out, err, want)
	}
	// A second copy, disabled, under another name: list sorts by name.
	var second plugin.Record
	cliJSON(t, addr, &second, "plugin", "install", file, "--name", "a-gzip", "--disabled", "--kind", "codec")
	if second.Name != "a-gzip" || second.Enabled || second.Kind != plugin.Codec || second.SHA256 != hash {
		t.Fatalf("install --disabled -o json: %+v", second)
	}

	rs := list()
	if len(rs) != 2 || rs[0].Name != "a-gzip" || rs[1].Name != "gzip" {
		t.Fatalf("list: %+v", rs)
	}
	r := rs[1]
	wantOpts := plugin.Options{TimeoutMs: 1500, MaxMemoryMB: 64, Pool: 2}
	if r.Kind != plugin.Codec || !r.Enabled || r.SHA256 != hash || r.Size != int64(len(wasm)) || r.Error != "" ||
		!reflect.DeepEqual(r.Options, wantOpts) || r.Config["note"] != "(hidden)" || len(r.Config) != 2 ||
		time.Since(r.Installed) > 5*time.Minute || len(r.Exports) == 0 {
		t.Fatalf("listed gzip: %+v", r)
	}
	out, _ = mesh("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME KIND STATE SIZE SHA256 INSTALLED" ||
		!strings.HasPrefix(lines[2], "gzip ") || !strings.Contains(lines[2], " enabled ") ||
		!strings.Contains(lines[1], " disabled ") || !strings.Contains(lines[2], " "+hash[:12]+" ") ||
		strings.Contains(lines[2], hash[:13]) || !strings.Contains(lines[2], size(r.Size)) {
		t.Fatalf("list table:\n%s", out)
	}

	out, err = mesh("inspect", "gzip")
	for _, want := range []string{"sha256:", hash, "kind:", "codec", "state:", "enabled", "exports:", plugin.ExportEncode,
		"config level:", "config note:", "(hidden)", "timeout:", "1.5s", "max_memory:", "64 MiB", "pool:", "2", "installed:"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("inspect: %v, %q missing in\n%s", err, want, out)
		}
	}
	if strings.Contains(out, "fail_open") || strings.Contains(out, "cache_ttl") || strings.Contains(out, "prefixes") {
		t.Fatalf("inspect shows options that are not set:\n%s", out)
	}
	var got plugin.Record
	cliJSON(t, addr, &got, "plugin", "inspect", "gzip")
	if got.Name != "gzip" || got.SHA256 != hash || !reflect.DeepEqual(got.Options, wantOpts) {
		t.Fatalf("inspect -o json: %+v", got)
	}
	for _, args := range [][]string{{"list"}, {"list", "-o", "json"}, {"inspect", "gzip"}, {"inspect", "gzip", "-o", "json"}} {
		if out, _ := mesh(args...); strings.Contains(out, secret) {
			t.Fatalf("mesh plugin %v shows a config value:\n%s", args, out)
		}
	}

	steps := []struct {
		args    []string
		out     string
		enabled bool
	}{
		{[]string{"disable", "gzip"}, "disabled plugin gzip (codec) — disabled\n", false},
		{[]string{"enable", "gzip"}, "enabled plugin gzip (codec) — enabled\n", true},
	}
	for _, s := range steps {
		if out, err := mesh(s.args...); err != nil || out != s.out {
			t.Fatalf("mesh plugin %v: %q %v, want %q", s.args, out, err, s.out)
		}
		if r := list()[1]; r.Enabled != s.enabled {
			t.Fatalf("after %v: %+v", s.args, r)
		}
	}
	if out, err := mesh("remove", "gzip"); err != nil || out != "removed plugin gzip\n" {
		t.Fatalf("remove: %q %v", out, err)
	}
	if rs := list(); len(rs) != 1 || rs[0].Name != "a-gzip" {
		t.Fatalf("list after remove: %+v", rs)
	}
	if _, err := mesh("inspect", "gzip"); err == nil || !strings.Contains(err.Error(), string(ptp.NotFound)) {
		t.Fatalf("inspect after remove: %v", err)
	}
}

// TestPluginFailures checks that each failure exits non-zero with a clear
// message: the local checks before anything is sent, and the node's.
func TestPluginFailures(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "notes.wasm")
	if err := os.WriteFile(notWasm, []byte("(module)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.wasm") // a valid module that exports nothing
	if err := os.WriteFile(empty, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	authWasm, b := plugintest.BuildBytes(t, "sdk/plugin/go/examples/auth")
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	wrong := strings.Repeat("ab", 32)
	addr := addrOf(startProc(t, t.TempDir()))

	for _, c := range []struct {
		args []string
		want []string // in the error, which carries standard error
	}{
		{[]string{"install", notWasm}, []string{notWasm + " is not a WebAssembly module"}},
		{[]string{"install", filepath.Join(dir, "missing.wasm")}, []string{"missing.wasm", "no such file"}},
		{[]string{"install", authWasm, "--sha256", wrong}, []string{"sha256 " + hash, "not " + wrong}},
		{[]string{"install", authWasm, "--kind", "filter"}, []string{"--kind", `unknown plugin kind "filter"`}},
		{[]string{"install", authWasm, "--config", "novalue"}, []string{`--config "novalue": want KEY=VALUE`}},
		{[]string{"install", authWasm, "--allow-path", "/data"}, []string{"--allow-path", "HOSTDIR:GUESTDIR"}},
		// The node refuses an auth policy as a codec: it lacks the exports.
		{[]string{"install", authWasm, "--kind", "codec", "--name", "policy"}, []string{string(ptp.BadRequest), "install policy", plugin.ExportEncode}},
		{[]string{"install", empty}, []string{string(ptp.BadRequest), "install empty", "fits no plugin kind"}},
		{[]string{"install", authWasm, "--name", "Bad Name"}, []string{string(ptp.BadRequest), "name"}},
		{[]string{"remove", "nothing"}, []string{string(ptp.NotFound), `"nothing"`}},
		{[]string{"enable", "nothing"}, []string{string(ptp.NotFound), `"nothing"`}},
		{[]string{"inspect", "nothing"}, []string{string(ptp.NotFound), `"nothing"`}},
	} {
		out, err := cli(t, addr, "", append([]string{"plugin"}, c.args...)...)
		if err == nil {
			t.Fatalf("mesh plugin %v succeeded: %q", c.args, out)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("mesh plugin %v: %v; want %q in it", c.args, err, w)
			}
		}
	}
	var rs []plugin.Record
	if cliJSON(t, addr, &rs, "plugin", "list"); len(rs) != 0 {
		t.Fatalf("failed installs left plugins: %+v", rs)
	}
}

// TestPluginInstallFlags checks how install flags become the request.
func TestPluginInstallFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.wasm")
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), "rest"...)
	conf := filepath.Join(dir, "policy.conf")
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("# keys\n key = from-file \ntoken=a=b\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var req plugin.InstallRequest
	in := installFlags{kind: "auth", configFile: conf, config: []string{"key=from-flag", "empty="},
		allowPaths: []string{"/srv/data:/data", "ro:/etc/mesh:/conf", "rw:/srv/out:/out"}, cacheTTL: 0, cacheChanged: true,
		timeout: 1500 * time.Microsecond, timeoutChanged: true, allowHosts: []string{"idp.example"}, failOpen: true}
	if err := readInstall(&req, &in, file); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	want := plugin.InstallRequest{Name: "policy", Kind: plugin.Auth, Wasm: wasm, SHA256: hex.EncodeToString(sum[:]),
		Config: map[string]string{"key": "from-flag", "token": "a=b", "empty": ""},
		Options: plugin.Options{FailOpen: true, CacheTTLms: -1, TimeoutMs: 2, AllowHosts: []string{"idp.example"},
			AllowPaths: map[string]string{"/srv/data": "/data", "ro:/etc/mesh": "/conf", "rw:/srv/out": "/out"}}}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("request:\n%+v\nwant\n%+v", req, want)
	}

	if err := os.WriteFile(conf, []byte("ok=1\nsecret-without-equals\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := readInstall(&plugin.InstallRequest{}, &installFlags{configFile: conf}, file)
	if err == nil || err.Error() != conf+":2: want KEY=VALUE" {
		t.Fatalf("bad config line: %v", err)
	}
	for _, d := range []time.Duration{0, -time.Second} {
		err := readInstall(&plugin.InstallRequest{}, &installFlags{timeout: d, timeoutChanged: true}, file)
		if err == nil || !strings.Contains(err.Error(), "positive") {
			t.Fatalf("--timeout %s: %v", d, err)
		}
	}
	req = plugin.InstallRequest{}
	if err := readInstall(&req, &installFlags{cacheTTL: 30 * time.Second, cacheChanged: true}, file); err != nil || req.Options.CacheTTLms != 30000 {
		t.Fatalf("--cache-ttl 30s: %+v %v", req.Options, err)
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 2202009: "2.1 MiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
