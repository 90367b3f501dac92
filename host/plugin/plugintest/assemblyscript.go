package plugintest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
)

// buildAssemblyScript builds the AssemblyScript plugin in dir (relative to
// the repository root, with its entry file index.ts) into out by running
// the kit's build.sh, which installs the pinned compiler with npm ci when
// the kit's node_modules is missing (a clean checkout), once for builds
// started together, in this process or others.
func buildAssemblyScript(dir, out string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	kit := filepath.Join(root, "sdk", "plugin", "assemblyscript")
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("building %s: %s is not installed (Debian: apt-get install nodejs npm): %w", dir, tool, err)
		}
	}
	script := filepath.Join(kit, "build.sh")
	cmd := exec.Command("sh", script, filepath.Join(root, filepath.FromSlash(dir)), out)
	cmd.Dir = root
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s with %s: %v\n%s", dir, script, err, output.Bytes())
	}
	return out, nil
}
