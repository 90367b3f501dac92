package plugintest

import "errors"

// buildAssemblyScript builds the AssemblyScript plugin in dir. Not written yet.
func buildAssemblyScript(dir, out string) (string, error) {
	return "", errors.New("the AssemblyScript kit is not written yet")
}
