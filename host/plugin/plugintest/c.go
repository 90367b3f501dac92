package plugintest

import "errors"

// buildC builds the C plugin in dir. Not written yet.
func buildC(dir, out string) (string, error) {
	return "", errors.New("the C kit is not written yet")
}
