package plugintest

import (
	"bytes"
	"sync"
	"testing"
)

func TestBuildGzip(t *testing.T) {
	var wg sync.WaitGroup
	builds := make([]*Job, 3)
	for i := range builds {
		wg.Go(func() { builds[i] = start("plugins/gzip") })
	}
	wg.Wait()
	if builds[0] != builds[1] || builds[1] != builds[2] {
		t.Error("concurrent callers started separate builds")
	}
	path, wasm := BuildBytes(t, "plugins/gzip")
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Fatalf("%s does not start with the wasm magic: %q", path, wasm[:min(8, len(wasm))])
	}
	if again := Build(t, "plugins/gzip"); again != path {
		t.Errorf("second build at %s, first at %s", again, path)
	}
}
