package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host"
)

// parseLayers parses `mesh start` args under the environment env (nothing
// else of the process's) and returns the configuration read.
func parseLayers(t *testing.T, env map[string]string, args ...string) (*startConfig, error) {
	t.Helper()
	sc := startFlags(pflag.NewFlagSet("start", pflag.ContinueOnError))
	if err := sc.flags.Parse(args); err != nil {
		return nil, err
	}
	return sc, sc.resolve(func(k string) string { return env[k] })
}

// writeConfig writes a --config file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEveryConfigFieldIsAnOption: each host.Config field a user can set
// (all but notOptions, set in-process) is one
// option of the table, and each option names a real field of a kind the
// parser reads, so nothing is settable by flag but not by env or file.
func TestEveryConfigFieldIsAnOption(t *testing.T) {
	ct := reflect.TypeFor[host.Config]()
	byField := map[string]option{}
	names := map[string]bool{}
	for _, o := range startOptions {
		f, ok := ct.FieldByName(o.field)
		if !ok {
			t.Errorf("option %s fills no host.Config field %q", o.name, o.field)
			continue
		}
		if _, dup := byField[o.field]; dup || names[o.name] {
			t.Errorf("option %s (field %s) declared twice", o.name, o.field)
		}
		byField[o.field], names[o.name] = o, true
		if o.secret && f.Type.Kind() != reflect.String {
			t.Errorf("secret %s is not a string field", o.name)
		}
		fv := &fieldValue{v: reflect.New(f.Type).Elem()}
		if err := fv.set(fv.String()); err != nil && fv.v.Kind() != reflect.String {
			t.Errorf("option %s: its zero value does not read back: %v", o.name, err)
		}
	}
	for i := range ct.NumField() {
		f := ct.Field(i)
		_, opt := byField[f.Name]
		if _, not := notOptions[f.Name]; not == opt {
			t.Errorf("host.Config.%s is neither in startOptions nor in notOptions (or is in both): add a row (flag, env and file key derive from its name)", f.Name)
		}
	}
}

// TestConfigPrecedence checks each layer against the one under it, for a
// duration, a list, an integer and a secret: flag > env > file > default.
func TestConfigPrecedence(t *testing.T) {
	tokenFile, fileToken := filepath.Join(t.TempDir(), "flag-token"), filepath.Join(t.TempDir(), "file-token")
	_ = os.WriteFile(tokenFile, []byte("from-flag\n"), 0o600)
	_ = os.WriteFile(fileToken, []byte("from-file\n"), 0o600)
	file := writeConfig(t, "pop_wait: 3s\ncontainer_nets: [10.0.0.0/8]\nmax_pops: 3\nadmin_token_file: "+fileToken+"\n")
	env := map[string]string{"MESH_POP_WAIT": "2s", "MESH_CONTAINER_NETS": "10.2.0.0/16", "MESH_MAX_POPS": "2", "MESH_ADMIN_TOKEN": "from-env"}
	flags := []string{"--pop-wait", "1s", "--container-nets", "10.1.0.0/16", "--max-pops", "1", "--admin-token-file", tokenFile}
	def := host.Defaults()
	for _, c := range []struct {
		layer string
		env   map[string]string
		args  []string
		want  host.Config
	}{
		{fromFlag, env, append(flags, "--config", file), host.Config{DefaultPopWait: time.Second, ContainerNets: []string{"10.1.0.0/16"}, MaxPops: 1, AdminToken: "from-flag"}},
		{fromEnv, env, []string{"--config", file}, host.Config{DefaultPopWait: 2 * time.Second, ContainerNets: []string{"10.2.0.0/16"}, MaxPops: 2, AdminToken: "from-env"}},
		{fromFile, map[string]string{configEnv: file}, nil, host.Config{DefaultPopWait: 3 * time.Second, ContainerNets: []string{"10.0.0.0/8"}, MaxPops: 3, AdminToken: "from-file"}},
		{fromDefault, nil, nil, host.Config{DefaultPopWait: def.DefaultPopWait, ContainerNets: def.ContainerNets, MaxPops: def.MaxPops}},
	} {
		sc, err := parseLayers(t, c.env, c.args...)
		if err == nil {
			err = sc.readSecrets()
		}
		if err != nil {
			t.Fatalf("%s: %v", c.layer, err)
		}
		got := host.Config{DefaultPopWait: sc.cfg.DefaultPopWait, ContainerNets: sc.cfg.ContainerNets, MaxPops: sc.cfg.MaxPops, AdminToken: sc.cfg.AdminToken}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s layer: got %+v, want %+v", c.layer, got, c.want)
		}
		for _, name := range []string{"pop-wait", "container-nets", "max-pops", "admin-token"} {
			if sc.sources[name] != c.layer {
				t.Errorf("%s layer: source of %s is %q", c.layer, name, sc.sources[name])
			}
		}
	}
}

// TestConfigFileErrors: an unknown key, a flag's spelling, a secret's
// value, a wrong type, a repeated key and an empty value are each refused
// with the key, its line and what is expected.
func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"listen: 127.0.0.1:1\nlisten_adress: x\n", `:2: unknown key "listen_adress"`},
		{"max-message: 10\n", `unknown key "max-message" (keys are snake_case: write max_message)`},
		{"admin_token: s3cret\n", `unknown key "admin_token" (a token is never written in the file: put it in a file of its own and name it with admin_token_file, or use env MESH_ADMIN_TOKEN)`},
		{"max_message: 128MiB\n", ":1: max_message: want an integer, got String 128MiB"},
		{"pop_wait: 30\n", ":1: pop_wait: want a duration such as 30s, got Integer 30"},
		{"pop_wait: soon\n", `:1: pop_wait: want a duration such as 30s or 1h30m, got "soon"`},
		{"sync_always: yes please\n", ":1: sync_always: want true or false"},
		{"host: a.example\n", ":1: host: want a list of strings, got String"},
		{"host: [[a]]\n", ":1: host: want a list of strings, got Sequence"},
		{"name: a\nname: b\n", `[2:1] mapping key "name" already defined`},
		{"name:\n", ":1: name: has no value"},
		{"- listen\n", "want a mapping of option: value"},
	} {
		_, err := parseLayers(t, nil, "--config", writeConfig(t, c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: %v, want an error with %q", c.yaml, err, c.want)
		}
	}
	if _, err := parseLayers(t, map[string]string{"MESH_MAX_POPS": "many"}); err == nil || !strings.Contains(err.Error(), "env MESH_MAX_POPS: want an integer") {
		t.Errorf("bad env value: %v", err)
	}
}

// TestConfigPrintReadsBack: what print writes, given back as --config,
// prints the same, and every line of it came from the file.
func TestConfigPrintReadsBack(t *testing.T) {
	home := t.TempDir()
	sc, err := parseLayers(t, map[string]string{"MESH_CLUSTER_PEERS": "a:1,b:2"}, "--home", home, "--message-ttl", "90m",
		"--host", "x.example", "--host", "y.example", "--sync-always", "--max-streams", "100")
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if err := sc.print(&first, false); err != nil {
		t.Fatal(err)
	}
	back, err := parseLayers(t, nil, "--config", writeConfig(t, first.String()))
	if err != nil {
		t.Fatalf("print's output refused by --config: %v\n%s", err, first.String())
	}
	if err := back.print(&second, true); err != nil {
		t.Fatal(err)
	}
	if got := stripSources(second.String()); got != first.String() {
		t.Errorf("read back differs:\n%s\nwant\n%s", got, first.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(second.String()), "\n") {
		if !strings.HasSuffix(l, "# file") {
			t.Errorf("read back, %q is not from the file", l)
		}
	}
}

// TestConfigPrintHidesSecrets: a token from the environment is <hidden>, one
// from a file shows the file's name; neither prints the token.
func TestConfigPrintHidesSecrets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tok")
	_ = os.WriteFile(f, []byte("cluster-s3cret"), 0o600)
	sc, err := parseLayers(t, map[string]string{"MESH_ADMIN_TOKEN": "admin-s3cret"}, "--home", t.TempDir(), "--cluster-token-file", f)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.readSecrets(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sc.print(&out, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "s3cret") || !strings.Contains(s, "# admin_token_file: <hidden>") || !strings.Contains(s, `cluster_token_file: "`+f+`"`) {
		t.Errorf("secrets not hidden as they should be:\n%s", s)
	}
}

// TestConfigPrintHidesURLCredentials: a NATS URL's user and password (or
// its token in the user position) and an OTLP endpoint's never print.
func TestConfigPrintHidesURLCredentials(t *testing.T) {
	sc, err := parseLayers(t, nil, "--home", t.TempDir(),
		"--nats-url", "nats://alice:pa55word@10.0.0.1:4222,nats://t0ken@10.0.0.2:4222",
		"--otlp-endpoint", "https://bob:s3cret@collector.example:4318")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := sc.print(&out, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, leak := range []string{"alice", "pa55word", "t0ken", "bob", "s3cret"} {
		if strings.Contains(s, leak) {
			t.Errorf("config print shows %q:\n%s", leak, s)
		}
	}
	for _, want := range []string{"nats://***@10.0.0.1:4222,nats://***@10.0.0.2:4222", "https://***@collector.example:4318"} {
		if !strings.Contains(s, want) {
			t.Errorf("config print lacks %q:\n%s", want, s)
		}
	}
}

// TestLegacyPortEnv: the older Mesh's PLUGIN_PROXY_TRANSPORT_Y sets the
// port; MESH_LISTEN and --listen win over it; a non-port is refused.
func TestLegacyPortEnv(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{legacyPortEnv: "17304"}, nil, ":17304"},
		{map[string]string{legacyPortEnv: "17304", "MESH_LISTEN": "127.0.0.1:9"}, nil, "127.0.0.1:9"},
		{map[string]string{legacyPortEnv: "17304"}, []string{"--listen", "127.0.0.1:8"}, "127.0.0.1:8"},
	} {
		sc, err := parseLayers(t, c.env, c.args...)
		if err != nil || sc.cfg.Listen != c.want {
			t.Errorf("%v %v: listen %q (%v), want %q", c.env, c.args, sc.cfg.Listen, err, c.want)
		}
	}
	if _, err := parseLayers(t, map[string]string{legacyPortEnv: "x"}); err == nil || !strings.Contains(err.Error(), "want a port number") {
		t.Errorf("bad legacy port: %v", err)
	}
}

// stripSources drops the "  # layer" comments --sources adds.
func stripSources(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if i := strings.LastIndex(l, "  # "); i > 0 {
			l = l[:i] + "\n"
		}
		b.WriteString(l)
	}
	return b.String()
}
