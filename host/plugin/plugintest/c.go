package plugintest

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// buildC builds the C plugin in dir (relative to the repository root) into
// out with the kit's build.sh (sdk/plugin/c/build.sh: clang for
// wasm32-unknown-unknown, no libc) and returns out. An error includes the
// compiler's output.
func buildC(dir, out string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "sdk", "plugin", "c", "build.sh")
	cmd := exec.Command("sh", script, filepath.Join(root, filepath.FromSlash(dir)), out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build C plugin %s: %w\n%s", dir, err, b)
	}
	return out, nil
}
