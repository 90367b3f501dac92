package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/meshtest"
	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/plugin"
	kits "github.com/ppcmesh/mesh/sdk/plugin"
)

// TestPluginNew makes a project of every kind in every language that has a
// kit, through the CLI; builds it with its own ./build.sh, offline; checks
// it with mesh plugin test; and installs it on real nodes: the route
// answers GET /hello, the auth policy admits a container and refuses a
// partner, the codec carries a push from one woven node to the other byte
// for byte (and garbles it when the two sides' keys differ, so the codec is
// on the wire).
func TestPluginNew(t *testing.T) {
	nodes := weavePair(t)
	builds := make(chan struct{}, 2) // the machine's cores
	t.Run("pairs", func(t *testing.T) {
		for _, lang := range kits.Langs() {
			for _, s := range plugin.Kinds {
				kind := string(s.Kind)
				t.Run(lang+"/"+kind, func(t *testing.T) {
					t.Parallel()
					name := lang + "-" + kind
					dir, next := func() (string, string) {
						builds <- struct{}{}
						defer func() { <-builds }()
						return newAndBuild(t, name, kind, lang)
					}()
					nodes.mu.Lock() // the nodes are shared: one plugin at a time on them
					defer nodes.mu.Unlock()
					// The steps new printed work as printed, with mesh on PATH.
					runOffline(t, dir, []string{"PATH=" + filepath.Dir(meshBin) + ":" + os.Getenv("PATH"), "MESH_ADDRESS=" + nodes.a}, "sh", "-c", next)
					uninstall(t, nodes.a, name)
					nodeChecks[kind](t, nodes, name, filepath.Join(dir, name+".wasm"))
				})
			}
		}
	})
}

// newAndBuild runs mesh plugin new, then the project's ./build.sh with no
// module proxy and an empty module cache (so nothing can be fetched), then
// mesh plugin test on what it built. It returns the project's folder and
// the next steps new printed.
func newAndBuild(t *testing.T, name, kind, lang string) (dir, next string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), name)
	out, err := cli(t, "", "", "plugin", "new", name, "--kind", kind, "--lang", lang, "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	flags := " --kind " + kind
	if kind == "route" {
		flags += " --prefix /hello" // a handler is called only under its prefixes
	}
	install := "mesh plugin install " + name + ".wasm" + flags
	next = "cd " + dir + " && ./build.sh . " + name + ".wasm && mesh plugin test " + name + ".wasm" + flags + " && " + install + "\n"
	if !strings.HasPrefix(out, "created "+kind+" plugin "+name+" ("+lang+") in "+dir+":\n") ||
		!strings.Contains(out, filepath.Join(dir, "build.sh")+"\n") || !strings.HasSuffix(out, "next:\n  "+next) {
		t.Fatalf("mesh plugin new said:\n%s", out)
	}
	for _, f := range []string{"build.sh", "test.sh"} {
		if info, err := os.Stat(filepath.Join(dir, f)); err != nil || info.Mode().Perm() != 0o755 {
			t.Fatalf("%s: %v %v, want mode 0755", f, info, err)
		}
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil || !bytes.Contains(readme, []byte(install)) {
		t.Fatalf("README.md does not say how to install: %v\n%s", err, readme)
	}
	// The project's own test script: its build.sh, then mesh plugin test
	// with the kind's flags.
	runOffline(t, dir, []string{"MESH=" + meshBin}, "./test.sh")
	return dir, next
}

// runOffline runs a command in dir with env added, offline: no Go module
// proxy, an empty module cache, no workspace.
func runOffline(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off", "GOMODCACHE="+t.TempDir(),
		"GONOSUMDB=*", "GOSUMDB=off")
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// pair is two woven node processes; node-a (a) routes to node-b (b).
type pair struct {
	a, b string
	mu   sync.Mutex
}

// nodeChecks install a plugin of each kind on the nodes and show it works.
var nodeChecks = map[string]func(t *testing.T, n *pair, name, wasm string){
	"route": checkRoute,
	"auth":  checkAuth,
	"codec": checkCodec,
}

// checkRoute: GET /hello answers the greeting; another path is left to
// the node.
func checkRoute(t *testing.T, n *pair, name, wasm string) {
	install(t, n.a, wasm, "--kind", "route", "--prefix", "/hello")
	defer uninstall(t, n.a, name)
	resp, err := http.Get("http://" + n.a + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello from mesh\n" || resp.Header.Get("content-type") != "text/plain; charset=utf-8" {
		t.Fatalf("GET /hello: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, err = http.Get("http://" + n.a + "/hello/other")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || strings.Contains(string(body), "Hello") {
		t.Fatalf("GET /hello/other, which the plugin hands back to the node: %d %q", resp.StatusCode, body)
	}
}

// checkAuth: on node-b, a container's push is admitted and node-a's, a
// partner not on the allow-list, refused by the policy (its reason stays in
// node-b's log); with node-a on the list it is admitted.
func checkAuth(t *testing.T, n *pair, name, wasm string) {
	install(t, n.b, wasm, "--kind", "auth", "--cache-ttl", "0")
	defer uninstall(t, n.b, name)
	if _, err := cli(t, n.b, "", "chan", "push", "--session", name, "t", "from a container"); err != nil {
		t.Fatalf("container push through %s: %v", name, err)
	}
	popAt(t, n.b, name, "from a container")
	if _, err := cli(t, n.a, "", "chan", "push", "--session", name, "--target", "node-b", "t", "from a partner"); err == nil ||
		!strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "refused by auth policy "+name) {
		t.Fatalf("partner push refused by %s: %v", name, err)
	}
	install(t, n.b, wasm, "--kind", "auth", "--cache-ttl", "0", "--config", "nodes=node-x,node-a")
	if _, err := cli(t, n.a, "", "chan", "push", "--session", name, "--target", "node-b", "t", "allowed partner"); err != nil {
		t.Fatalf("partner on the allow-list of %s: %v", name, err)
	}
	popAt(t, n.b, name, "allowed partner")
}

// checkCodec: node-a encodes what it sends to node-b with the codec, node-b
// decodes it: every byte value arrives as sent when both have the same key,
// and not when their keys differ.
func checkCodec(t *testing.T, n *pair, name, wasm string) {
	if _, err := cli(t, n.a, "", "plugin", "install", wasm, "--kind", "codec", "--config", "key=300"); err == nil ||
		!strings.Contains(err.Error(), `xor: key must be a byte (0-255), got "300"`) {
		t.Fatalf("install with a bad key: %v", err)
	}
	install(t, n.a, wasm, "--kind", "codec", "--config", "key=0x21")
	defer uninstall(t, n.a, name)
	install(t, n.b, wasm, "--kind", "codec", "--config", "key=66")
	defer uninstall(t, n.b, name)
	if _, err := cli(t, n.a, "", "net", "add", "node-b", "--codec", name); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := cli(t, n.a, "", "net", "add", "node-b", "--codec", ""); err != nil {
			t.Error(err)
		}
	}()
	payload := make([]byte, 4096)
	for i := range payload {
		payload[i] = byte(i)
	}
	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	push := func() string {
		t.Helper()
		if _, err := cli(t, n.a, "", "chan", "push", "--session", name, "--target", "node-b", "--file", file, "t"); err != nil {
			t.Fatal(err)
		}
		out, _ := cli(t, n.b, "", "chan", "pop", "--session", name, "t")
		return out
	}
	if got := push(); got == string(payload) {
		t.Fatalf("%s: keys 0x21 and 66 differ, yet the payload arrived intact: the codec is not on the wire", name)
	}
	install(t, n.b, wasm, "--kind", "codec", "--config", "key=33") // 0x21
	if got := push(); got != string(payload) {
		t.Fatalf("%s: pop at node-b gave %d bytes, not the %d pushed", name, len(got), len(payload))
	}
}

// install installs wasm on the node at addr.
func install(t *testing.T, addr, wasm string, args ...string) {
	t.Helper()
	if _, err := cli(t, addr, "", append([]string{"plugin", "install", wasm}, args...)...); err != nil {
		t.Fatal(err)
	}
}

// uninstall removes the plugin name from the node at addr.
func uninstall(t *testing.T, addr, name string) {
	t.Helper()
	if _, err := cli(t, addr, "", "plugin", "remove", name); err != nil {
		t.Error(err)
	}
}

// popAt pops topic t of session at addr and wants payload.
func popAt(t *testing.T, addr, session, want string) {
	t.Helper()
	if out, err := cli(t, addr, "", "chan", "pop", "--session", session, "t"); err != nil || out != want {
		t.Fatalf("pop at %s: %q %v, want %q", addr, out, err, want)
	}
}

// weavePair starts node-a and node-b and weaves them with the CLI.
func weavePair(t *testing.T) *pair {
	t.Helper()
	n := &pair{a: addrOf(startProc(t, t.TempDir())), b: addrOf(startProc(t, t.TempDir()))}
	for _, x := range []struct{ addr, id string }{{n.a, "node-a"}, {n.b, "node-b"}} {
		if _, err := cli(t, x.addr, "", "node", "refresh", "--node-id", x.id, "--inst-id", "inst-"+x.id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli(t, n.a, "", "net", "add", "node-b", "--inst", "inst-node-b", "--address", n.b); err != nil {
		t.Fatal(err)
	}
	var woven network.Route
	cliJSON(t, n.a, &woven, "net", "weave", "node-b")
	var atB network.Route
	meshtest.WaitFor(t, 30*time.Second, "B to show A pending", func() bool {
		atB = routeTo(t, n.b, "node-a")
		return atB.State == network.StatePending
	})
	if _, err := cli(t, n.b, "", "net", "ack", "node-a", "--inst", "inst-node-a", "--code", woven.Code); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, n.a, "", "net", "ack", "node-b", "--code", atB.Code); err != nil {
		t.Fatal(err)
	}
	meshtest.WaitFor(t, 30*time.Second, "both sides woven", func() bool {
		return routeTo(t, n.a, "node-b").State == network.StateWoven && routeTo(t, n.b, "node-a").State == network.StateWoven
	})
	return n
}

// TestPluginNewFailures: a bad name, a folder in use, an unknown kind or
// language each fail with a message saying what is wrong, and write nothing.
func TestPluginNewFailures(t *testing.T) {
	work := t.TempDir()
	used := filepath.Join(work, "used")
	if err := os.MkdirAll(used, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(used, "main.go")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := "a" + strings.Repeat("b", 63)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"Hello", "--kind", "codec"}, []string{`plugin name "Hello"`, "lowercase letters, digits and dashes, starting with a letter", "it names the folder"}},
		{[]string{"1st", "--kind", "codec"}, []string{`plugin name "1st"`}},
		{[]string{"a_b", "--kind", "codec"}, []string{`plugin name "a_b"`}},
		{[]string{long, "--kind", "codec"}, []string{`plugin name "` + long + `"`, "1-63"}},
		{[]string{"used", "--kind", "codec", "--dir", used}, []string{used + " exists and is not empty"}},
		{[]string{"nokind"}, []string{"--kind is required: " + kindList()}},
		{[]string{"filter", "--kind", "filter"}, []string{"--kind", `unknown plugin kind "filter"`, "codec, auth, route"}},
		{[]string{"cobol", "--kind", "codec", "--lang", "cobol"}, []string{`--lang: no kit for "cobol"`, "known: " + strings.Join(kits.Langs(), ", ")}},
	} {
		cmd := exec.Command(meshBin, append([]string{"plugin", "new"}, c.args...)...)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("mesh plugin new %v succeeded:\n%s", c.args, out)
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Fatalf("mesh plugin new %v:\n%s\nwant %q in it", c.args, out, w)
			}
		}
	}
	entries, _ := os.ReadDir(work)
	if b, err := os.ReadFile(keep); len(entries) != 1 || err != nil || string(b) != "mine" {
		t.Fatalf("failed runs changed %s: %d entries, main.go %q %v", work, len(entries), b, err)
	}
	if got := strings.Join(kits.Langs()[:1], ""); got != "go" {
		t.Fatalf("the first language is %q, want go", got)
	}
}
