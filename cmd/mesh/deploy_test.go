package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host"
	"github.com/ppcmesh/mesh/host/meshtest"
)

// The deploy files, relative to this package.
const (
	dockerfilePath = "../../Dockerfile"
	k8sSinglePath  = "../../deploy/k8s/mesh.yaml"
	k8sHAPath      = "../../deploy/k8s/mesh-ha.yaml"
	unitPath       = "../../deploy/systemd/mesh.service"
)

// deployUse is what one deploy file asks of the binary: the mesh command
// lines it runs, the MESH_* variables it sets, the ports it opens and the
// HTTP paths it probes.
type deployUse struct {
	file   string
	runs   [][]string        // mesh's arguments (after "mesh")
	env    map[string]string // MESH_* name → value
	ports  []int
	probes []probe
}

// probe is an HTTP GET a platform sends to the node.
type probe struct {
	path string
	port int
}

// dockerfile is what the static test reads from the Dockerfile.
type dockerfile struct {
	entrypoint, healthcheck []string
	user, volume            string
	build                   string            // the RUN line that runs go build
	args                    map[string]string // ARG defaults
	use                     deployUse
}

// instructions are the Dockerfile's lines with continuations joined and
// comments dropped.
func instructions(text string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if cur == "" && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(t, "\\"); ok {
			cur += s + " "
			continue
		}
		out = append(out, cur+t)
		cur = ""
	}
	return out
}

// jsonArgs reads the exec form ["a", "b"] of an instruction.
func jsonArgs(s string) ([]string, error) {
	var v []string
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

// parseDockerfile reads text as a Dockerfile.
func parseDockerfile(text string) (dockerfile, error) {
	d := dockerfile{args: map[string]string{}, use: deployUse{file: "Dockerfile", env: map[string]string{}}}
	for _, in := range instructions(text) {
		op, rest, _ := strings.Cut(in, " ")
		var err error
		switch strings.ToUpper(op) {
		case "ENTRYPOINT":
			d.entrypoint, err = jsonArgs(rest)
		case "HEALTHCHECK":
			_, c, ok := strings.Cut(rest, "CMD ")
			if !ok {
				return d, fmt.Errorf("HEALTHCHECK without CMD: %s", in)
			}
			d.healthcheck, err = jsonArgs(c)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				d.use.env[k] = v
			}
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			d.args[k] = v
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					return d, fmt.Errorf("EXPOSE %s: %w", p, err)
				}
				d.use.ports = append(d.use.ports, n)
			}
		case "USER":
			d.user = rest
		case "VOLUME":
			d.volume = rest
		case "RUN":
			if strings.Contains(rest, "go build") {
				d.build = rest
			}
		}
		if err != nil {
			return d, fmt.Errorf("%s: %w", in, err)
		}
	}
	for _, c := range [][]string{d.entrypoint, d.healthcheck} {
		if len(c) == 0 || c[0] != "mesh" {
			return d, fmt.Errorf("ENTRYPOINT and HEALTHCHECK must run the mesh binary itself, got %q", c)
		}
		d.use.runs = append(d.use.runs, c[1:])
	}
	return d, nil
}

// parseManifests reads the Kubernetes documents of text; containers run
// entrypoint (the image's) with their args unless they give a command.
func parseManifests(file, text string, entrypoint []string) (deployUse, []map[string]any, error) {
	u := deployUse{file: file, env: map[string]string{}}
	var docs []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return u, nil, fmt.Errorf("%s: %w", file, err)
		}
		docs = append(docs, doc)
		walk(doc, func(k string, v any) { u.visit(k, v, entrypoint) })
	}
	return u, docs, nil
}

// visit records what one key of a manifest asks of the binary.
func (u *deployUse) visit(k string, v any, entrypoint []string) {
	switch k {
	case "containers":
		for _, c := range list(v) {
			c, _ := c.(map[string]any)
			run := slices.Clone(entrypoint)
			if cmd := strs(c["command"]); len(cmd) > 0 {
				run = cmd
			}
			run = append(run, strs(c["args"])...)
			if len(run) > 0 && run[0] == "mesh" {
				u.runs = append(u.runs, run[1:])
			}
			for _, e := range list(c["env"]) {
				e, _ := e.(map[string]any)
				if name := fmt.Sprint(e["name"]); strings.HasPrefix(name, "MESH_") {
					u.env[name] = fmt.Sprint(e["value"])
				}
			}
		}
	case "containerPort", "port", "targetPort", "hostPort":
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil {
			u.ports = append(u.ports, n)
		}
	case "livenessProbe", "readinessProbe", "startupProbe":
		m, _ := v.(map[string]any)
		if g, ok := m["httpGet"].(map[string]any); ok {
			n, _ := strconv.Atoi(fmt.Sprint(g["port"]))
			u.probes = append(u.probes, probe{path: fmt.Sprint(g["path"]), port: n})
		}
	}
}

// walk calls visit for every key of every map in v, depth first.
func walk(v any, visit func(k string, v any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			visit(k, x)
			walk(x, visit)
		}
	case []any:
		for _, x := range v {
			walk(x, visit)
		}
	}
}

func list(v any) []any { l, _ := v.([]any); return l }

func strs(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// unit is what the static test reads from the systemd unit.
type unit struct {
	keys map[string][]string // Key → values, [Service] and the others alike
	use  deployUse
}

// parseUnit reads text as a systemd unit; a commented-out Exec line
// ("#ExecReload=…", a placeholder) is checked as if it were set.
func parseUnit(text string) (unit, error) {
	u := unit{keys: map[string][]string{}, use: deployUse{file: "mesh.service", env: map[string]string{}}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#Exec") {
			l = l[1:]
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		u.keys[k] = append(u.keys[k], v)
		switch {
		case strings.HasPrefix(k, "Exec"):
			f := strings.Fields(v)
			if len(f) == 0 || filepath.Base(f[0]) != "mesh" {
				if strings.Contains(v, "mesh") {
					return u, fmt.Errorf("%s runs mesh through another program: %s", k, v)
				}
				continue
			}
			u.use.runs = append(u.use.runs, f[1:])
		case k == "Environment":
			name, val, _ := strings.Cut(v, "=")
			u.use.env[name] = val
		}
	}
	return u, sc.Err()
}

// knownEnv are the MESH_* variables the binary reads: every option of
// `mesh start` (its table) and every variable a flag's usage names (the
// client commands' MESH_ADDRESS, MESH_ADMIN_TOKEN …).
func knownEnv() map[string]bool {
	known := map[string]bool{}
	for _, o := range startOptions {
		known[o.env()] = true
	}
	re := regexp.MustCompile(`MESH_[A-Z0-9_]+`)
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			for _, m := range re.FindAllString(f.Usage, -1) {
				known[m] = true
			}
		})
		for _, s := range c.Commands() {
			visit(s)
		}
	}
	visit(rootCmd())
	return known
}

// listenPort is the port a node listens on by default.
func listenPort(t *testing.T) int {
	_, p, err := net.SplitHostPort(host.Defaults().Listen)
	n, _ := strconv.Atoi(p)
	if err != nil || n == 0 {
		t.Fatalf("default listen %q", host.Defaults().Listen)
	}
	return n
}

var portRE = regexp.MustCompile(`:(\d+)\b`)

// problems lists what u uses that the binary does not have: commands and
// flags (parsed by the real command tree), MESH_* variables, ports no
// listen address of the file opens, probes on another port than the data
// port's.
func (u deployUse) problems(known map[string]bool, defaultPort int) []string {
	var out []string
	opened := map[int]bool{defaultPort: true}
	for _, run := range u.runs {
		if err := checkRun(run); err != nil {
			out = append(out, fmt.Sprintf("%s: mesh %s: %v", u.file, strings.Join(run, " "), err))
		}
		if err := secretInArgs(run); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", u.file, err))
		}
		for _, m := range portRE.FindAllStringSubmatch(strings.Join(run, " "), -1) {
			n, _ := strconv.Atoi(m[1])
			opened[n] = true
		}
	}
	dataPort := defaultPort
	for name, v := range u.env {
		if !known[name] {
			out = append(out, fmt.Sprintf("%s: env %s: the binary reads no such variable", u.file, name))
		}
		if name == "MESH_LISTEN" && v == host.Defaults().Listen {
			out = append(out, fmt.Sprintf("%s: env MESH_LISTEN=%s restates the default and shadows %s: leave it out", u.file, v, legacyPortEnv))
		}
		if name == "MESH_LISTEN" {
			if m := portRE.FindStringSubmatch(v); m != nil {
				dataPort, _ = strconv.Atoi(m[1])
				opened[dataPort] = true
			}
		}
	}
	for _, p := range u.ports {
		if !opened[p] {
			out = append(out, fmt.Sprintf("%s: port %d: no listen address of this file opens it", u.file, p))
		}
	}
	for _, p := range u.probes {
		if p.port != dataPort {
			out = append(out, fmt.Sprintf("%s: probe %s on port %d, but the node serves it on %d", u.file, p.path, p.port, dataPort))
		}
	}
	return out
}

// checkRun parses mesh's arguments with the real command tree: the command
// must exist and take these flags and arguments.
func checkRun(args []string) error {
	root := rootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root || !cmd.Runnable() {
		return fmt.Errorf("no such command")
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

// readDeploy reads every deploy file.
func readDeploy(t *testing.T) (dockerfile, []deployUse, map[string][]map[string]any, unit) {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	d, err := parseDockerfile(read(dockerfilePath))
	if err != nil {
		t.Fatal(err)
	}
	uses := []deployUse{d.use}
	docs := map[string][]map[string]any{}
	for _, p := range []string{k8sSinglePath, k8sHAPath} {
		u, ds, err := parseManifests(filepath.Base(p), read(p), d.entrypoint)
		if err != nil {
			t.Fatal(err)
		}
		uses, docs[filepath.Base(p)] = append(uses, u), ds
	}
	un, err := parseUnit(read(unitPath))
	if err != nil {
		t.Fatal(err)
	}
	return d, append(uses, un.use), docs, un
}

// TestDeployFilesMatchTheBinary: every mesh command line, flag, MESH_*
// variable, port and probe path of the Dockerfile, the Kubernetes manifests
// and the systemd unit exists in this binary; the probe paths answer 200 on
// a real node.
func TestDeployFilesMatchTheBinary(t *testing.T) {
	_, uses, _, _ := readDeploy(t)
	known, port := knownEnv(), listenPort(t)
	paths := map[string]bool{}
	for _, u := range uses {
		if len(u.runs) == 0 {
			t.Errorf("%s runs no mesh command", u.file)
		}
		for _, p := range u.problems(known, port) {
			t.Error(p)
		}
		for _, p := range u.probes {
			paths[p.path] = true
		}
	}
	if len(paths) == 0 {
		t.Fatal("no probe paths found")
	}
	n := meshtest.Start(t, host.Config{ShutdownTimeout: 2 * time.Second})
	meshtest.WaitFor(t, 30*time.Second, "node ready", func() bool { return httpStatus(t, n.URL+"/healthz") == http.StatusOK })
	for p := range paths {
		if code := httpStatus(t, n.URL+p); code != http.StatusOK {
			t.Errorf("probe path %s answers HTTP %d on a ready node, want 200", p, code)
		}
	}
}

// httpStatus is the HTTP status of a GET of url.
func httpStatus(t *testing.T, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestDeployCheckCatchesMistakes: the check above fails on a misspelt
// flag, an unknown variable, a port nothing opens, a probe on the wrong
// port and an unknown command (each a one-word change of a real file).
func TestDeployCheckCatchesMistakes(t *testing.T) {
	b, err := os.ReadFile(k8sHAPath)
	if err != nil {
		t.Fatal(err)
	}
	entry := []string{"mesh", "start"}
	known, port := knownEnv(), listenPort(t)
	for _, m := range []struct{ from, to, want string }{
		{"--cluster-peers=", "--cluster-peer=", "unknown flag: --cluster-peer"},
		{"--cluster-token-file=", "--cluster-token=", "on the command line"},
		{"name: MESH_HOME", "name: MESH_HOEM", "env MESH_HOEM"},
		{"containerPort: 6222", "containerPort: 6223", "port 6223"},
		{"httpGet: {path: /stats, port: 7304}", "httpGet: {path: /stats, port: 7305}", "probe /stats on port 7305"},
	} {
		text := strings.Replace(string(b), m.from, m.to, 1)
		if text == string(b) {
			t.Fatalf("mutation %q not applied: the manifest changed", m.from)
		}
		u, _, err := parseManifests("mutated", text, entry)
		if err != nil {
			t.Fatal(err)
		}
		ps := u.problems(known, port)
		if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, m.want) }) {
			t.Errorf("%q → %q: problems %q, want one with %q", m.from, m.to, ps, m.want)
		}
	}
	u := deployUse{file: "x", runs: [][]string{{"sto"}}}
	if ps := u.problems(known, port); len(ps) != 1 || !strings.Contains(ps[0], "mesh sto") {
		t.Errorf("an unknown command: %q", ps)
	}
	u = deployUse{file: "x", env: map[string]string{"MESH_LISTEN": host.Defaults().Listen}}
	if ps := u.problems(known, port); len(ps) != 1 || !strings.Contains(ps[0], legacyPortEnv) {
		t.Errorf("MESH_LISTEN at its default (it shadows %s): %q", legacyPortEnv, ps)
	}
}

// secretInArgs refuses a token given on a command line, where every user
// of the machine reads it (the hidden --NAME flag of a secret option exists
// only to say so when the command runs).
func secretInArgs(args []string) error {
	for _, o := range startOptions {
		for _, a := range args {
			if o.secret && (a == "--"+o.name || strings.HasPrefix(a, "--"+o.name+"=")) {
				return fmt.Errorf("--%s on the command line: give --%s (a file) or env %s", o.name, o.flag(), o.env())
			}
		}
	}
	return nil
}

// TestDeployFilesShape: the properties the deploy guide promises — a
// non-root image with its home a volume, ENTRYPOINT mesh start; /stats
// liveness and readiness probes; three replicas clustered by their pod DNS
// names with a claim each; a unit that outwaits the shutdown timeout.
func TestDeployFilesShape(t *testing.T) {
	d, uses, docs, un := readDeploy(t)
	if !slices.Equal(d.entrypoint, []string{"mesh", "start"}) || d.user == "" || d.user == "root" || d.user == "0" ||
		d.volume != d.use.env["MESH_HOME"] || !slices.Contains(d.use.ports, listenPort(t)) {
		t.Errorf("Dockerfile: entrypoint %q user %q volume %q MESH_HOME %q ports %v", d.entrypoint, d.user, d.volume, d.use.env["MESH_HOME"], d.use.ports)
	}
	single := uses[1]
	if len(single.probes) != 2 || slices.ContainsFunc(single.probes, func(p probe) bool { return p.path != "/stats" }) {
		t.Errorf("mesh.yaml probes %v, want liveness and readiness on /stats", single.probes)
	}
	ha := uses[2]
	if len(ha.runs) != 1 {
		t.Fatalf("mesh-ha.yaml runs %q", ha.runs)
	}
	var peers, name string
	for _, a := range ha.runs[0] {
		if v, ok := strings.CutPrefix(a, "--cluster-peers="); ok {
			peers = v
		}
		if v, ok := strings.CutPrefix(a, "--name="); ok {
			name = v
		}
	}
	want := "mesh-0.mesh.$(POD_NAMESPACE).svc.cluster.local:6222,mesh-1.mesh.$(POD_NAMESPACE).svc.cluster.local:6222,mesh-2.mesh.$(POD_NAMESPACE).svc.cluster.local:6222"
	if peers != want || name != "$(POD_NAME)" {
		t.Errorf("mesh-ha.yaml peers %q name %q, want %q and the pod name", peers, name, want)
	}
	for _, doc := range docs["mesh-ha.yaml"] {
		if doc["kind"] != "StatefulSet" {
			continue
		}
		spec, _ := doc["spec"].(map[string]any)
		if fmt.Sprint(spec["replicas"]) != "3" || fmt.Sprint(spec["serviceName"]) != "mesh" || len(list(spec["volumeClaimTemplates"])) != 1 {
			t.Errorf("StatefulSet: replicas %v serviceName %v claims %v", spec["replicas"], spec["serviceName"], spec["volumeClaimTemplates"])
		}
	}
	stop, err := time.ParseDuration(strings.Join(un.keys["TimeoutStopSec"], "") + "s")
	if err != nil || stop <= host.Defaults().ShutdownTimeout || strings.Join(un.keys["KillSignal"], "") != "SIGTERM" ||
		un.use.env["MESH_HOME"] != "/var/lib/"+strings.Join(un.keys["StateDirectory"], "") {
		t.Errorf("unit: TimeoutStopSec %v KillSignal %q StateDirectory %q MESH_HOME %q", un.keys["TimeoutStopSec"], un.keys["KillSignal"],
			un.keys["StateDirectory"], un.use.env["MESH_HOME"])
	}
}
