package host_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/host"
)

func homeConfig(home string) host.Config {
	return host.Config{Home: home, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// TestHomeIsExclusive: while a node holds its home, a second node on the
// same home refuses to open, naming the process that holds it; once the
// first closes, the second opens.
func TestHomeIsExclusive(t *testing.T) {
	home := t.TempDir()
	first, err := host.New(context.Background(), homeConfig(home))
	if err != nil {
		t.Fatal(err)
	}
	second, err := host.New(context.Background(), homeConfig(home))
	if err == nil {
		second.Close()
		first.Close()
		t.Fatal("a second node opened a home in use")
	}
	if want := fmt.Sprintf("in use by process %d", os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), home) {
		first.Close()
		t.Fatalf("second node: %v, want it to say %q and name the home", err, want)
	}
	b, err := os.ReadFile(filepath.Join(home, "mesh.lock"))
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this pid", b, err)
	}
	first.Close()
	second, err = host.New(context.Background(), homeConfig(home))
	if err != nil {
		t.Fatalf("home still locked after Close: %v", err)
	}
	second.Close()
}
