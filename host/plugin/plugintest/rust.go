package plugintest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
)

// buildRust builds the Rust plugin in dir (its lib.rs, relative to the
// repository root) with the kit's build.sh, which compiles it with rustc
// for wasm32-unknown-unknown, and returns out.
func buildRust(dir, out string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "sdk", "plugin", "rust", "build.sh")
	cmd := exec.Command("sh", script, filepath.Join(root, filepath.FromSlash(dir)), out)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the Rust plugin %s with %s: %v\n%s", dir, script, err, output.Bytes())
	}
	return out, nil
}
