// Package plugintest builds the repository's Go WebAssembly plugins for
// tests: Build compiles a guest module (a reactor, GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared) once per process and returns the .wasm path, so the
// host's tests load real plugins — the built-in ones under plugins/, the
// SDK's examples and the hostile modules under testdata — without checked-in
// binaries.
package plugintest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// mainModule is the module path of the repository root's go.mod.
const mainModule = "github.com/ppcmesh/mesh"

// Job is one module's build, shared by concurrent callers.
type Job struct {
	done chan struct{} // closed when the build has finished
	path string        // the .wasm file
	err  error         // with the compiler's output
}

var (
	mu     sync.Mutex
	builds = map[string]*Job{}
	outDir string // this process's output directory
)

// Build builds the Go wasip1 module in dir, a slash-separated path relative
// to the repository root (e.g. "plugins/gzip", "sdk/plugin/go/examples/codec",
// "host/plugin/testdata/hostile/codec"), and returns the path of the .wasm
// file. Builds are cached for the process; concurrent callers for the same
// dir wait for one build. A failed build fails tb with the compiler's
// output.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	return start(dir).Wait(tb)
}

// BuildBytes is Build returning the module's bytes too.
func BuildBytes(tb testing.TB, dir string) (path string, wasm []byte) {
	tb.Helper()
	path = Build(tb, dir)
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("plugintest: %v", err)
	}
	return path, wasm
}

// Cleanup removes the process's built modules. Call it from TestMain after
// m.Run if the temporary directory should not outlive the test binary.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if outDir != "" {
		os.RemoveAll(outDir)
		outDir = ""
		clear(builds)
	}
}

// start returns dir's Go build, starting it if it is the first request.
func start(dir string) *Job { return Once("go:"+dir, dir, compile) }

// Once runs compile for key once per process, in the background, and
// returns its build; concurrent and later callers with the same key share
// it. compile gets dir (slash-separated, relative to the repository root)
// and the path of the .wasm file to write; it returns the module's path.
// The language builders (Build, and the C, Rust and AssemblyScript ones)
// share it, so every build is cached alike and Cleanup removes them all.
func Once(key, dir string, compile func(dir, out string) (string, error)) *Job {
	mu.Lock()
	defer mu.Unlock()
	if b, ok := builds[key]; ok {
		return b
	}
	b := &Job{done: make(chan struct{})}
	builds[key] = b
	if outDir == "" {
		var err error
		if outDir, err = os.MkdirTemp("", "mesh-plugintest-"); err != nil {
			b.err = err
			close(b.done)
			return b
		}
	}
	out := filepath.Join(outDir, strings.NewReplacer("/", "_", ":", "_").Replace(key)+".wasm")
	go func() {
		defer close(b.done)
		b.path, b.err = compile(dir, out)
	}()
	return b
}

// Wait waits for b and returns its module's path, failing tb when it
// failed to build.
func (b *Job) Wait(tb testing.TB) string {
	tb.Helper()
	<-b.done
	if b.err != nil {
		tb.Fatalf("plugintest: %v", b.err)
	}
	return b.path
}

// Root is the repository root, for builders that run a compiler there.
func Root() (string, error) { return repoRoot() }

// compile runs go build for dir inside the module that contains it.
func compile(dir, out string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	pkg := filepath.Join(root, filepath.FromSlash(dir))
	mod, err := moduleDir(root, pkg)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(mod, pkg)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./"+filepath.ToSlash(rel))
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", dir, err, output.Bytes())
	}
	return out, nil
}

// repoRoot is the repository root: three levels above this file, or, when
// the test binary was built with -trimpath, the directory of the first
// go.mod above the working directory that declares the main module.
func repoRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Join(filepath.Dir(file), "..", "..", ".."), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isMainModule(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s above %s", mainModule, wd)
		}
	}
}

// isMainModule reports whether the go.mod at path declares mainModule.
func isMainModule(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(line)) == "module "+mainModule
}

// moduleDir is the nearest directory from pkg up to root holding a go.mod.
func moduleDir(root, pkg string) (string, error) {
	if _, err := os.Stat(pkg); err != nil {
		return "", err
	}
	for d := pkg; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if d == root || filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod between %s and %s", pkg, root)
		}
	}
}

// CacheEntries counts the compiled modules under a compilation cache
// directory (wazero keeps them in a subdirectory named for its version and
// platform).
func CacheEntries(tb testing.TB, dir string) int {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
