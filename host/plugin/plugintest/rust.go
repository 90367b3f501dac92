package plugintest

import "errors"

// buildRust builds the Rust plugin in dir. Not written yet.
func buildRust(dir, out string) (string, error) {
	return "", errors.New("the Rust kit is not written yet")
}
