package plugintest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// asInstall runs npm ci in the AssemblyScript kit once per process when
// its compiler is missing, so concurrent builds do not race to install it.
var asInstall struct {
	once sync.Once
	err  error
}

// buildAssemblyScript builds the AssemblyScript plugin in dir (relative to
// the repository root, with its entry file index.ts) into out by running
// the kit's build.sh. When the kit's node_modules is missing (a clean
// checkout) it installs the pinned compiler with npm ci first.
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
	asInstall.once.Do(func() {
		if _, err := os.Stat(filepath.Join(kit, "node_modules", ".bin", "asc")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = kit
		if b, err := cmd.CombinedOutput(); err != nil {
			asInstall.err = fmt.Errorf("npm ci in %s: %v\n%s", kit, err, b)
		}
	})
	if asInstall.err != nil {
		return "", asInstall.err
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
