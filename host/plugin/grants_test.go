package plugin

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/ppcmesh/mesh/host/plugin/plugintest"
)

// TestHostGrants: an entry grants its host on its port, or on the scheme's
// default port when it has none; wildcards match names, not ports.
func TestHostGrants(t *testing.T) {
	gs, err := parseHostGrants([]string{"127.0.0.1:8080", "idp.example", "*.corp.example:8443", "[::1]:9000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"http://127.0.0.1:8080/x", true},
		{"https://127.0.0.1:8080/x", true},
		{"http://127.0.0.1:8081/x", false},
		{"http://127.0.0.1/x", false},
		{"https://idp.example/token", true},
		{"http://idp.example/token", true},
		{"https://idp.example:443/token", true},
		{"https://idp.example:8443/token", false},
		{"https://IDP.example/token", true},
		{"https://a.corp.example:8443/", true},
		{"https://a.corp.example/", false},
		{"http://[::1]:9000/", true},
		{"http://[::1]:9001/", false},
		{"ftp://idp.example/", false},
		{"http://evil.example/", false},
	} {
		u, _ := url.Parse(tc.url)
		if got := gs.allowsURL(u); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.url, got, tc.want)
		}
	}
	if !gs.allowsDial("127.0.0.1:8080") || gs.allowsDial("127.0.0.1:80") || !gs.allowsDial("idp.example:443") {
		t.Error("dial checks disagree with the grant")
	}
	for _, bad := range []string{"", "host:0", "host:http", "host:99999", "a/b", "user@host", "[x"} {
		if _, err := parseHostGrants([]string{bad}); err == nil {
			t.Errorf("allow_hosts %q accepted", bad)
		}
	}
}

// TestLocalTarget: only link targets below the link's own directory may
// be created.
func TestLocalTarget(t *testing.T) {
	for target, want := range map[string]bool{
		"file": true, "a/b": true, "./a": true, "a..b": true,
		"": false, "..": false, "../": false, "../../": false, "a/../../b": false, "/": false, "/etc/passwd": false, `..\x`: false,
	} {
		if got := localTarget(target); got != want {
			t.Errorf("localTarget(%q) = %v, want %v", target, got, want)
		}
	}
}

// TestRootFSRefusesEscapes: the filesystem under a mount neither makes nor
// follows links out of its directory.
func TestRootFSRefusesEscapes(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "grant")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(base, "secret"), []byte("s"), 0o600)
	os.Symlink("..", filepath.Join(dir, "up"))
	g, err := openGrants(map[string]string{PathReadWrite + dir: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	fsys := rootFS{root: g.roots[0]}
	if e := fsys.Symlink("../secret", "link"); e != experimentalsys.EPERM {
		t.Errorf("symlink out: %v, want EPERM", e)
	}
	if _, e := fsys.OpenFile("up/secret", experimentalsys.O_RDONLY, 0); e == 0 {
		t.Error("opened a file through a link out of the grant")
	}
	if _, e := fsys.Stat("up/secret"); e == 0 {
		t.Error("stat through a link out of the grant")
	}
	if _, e := fsys.OpenFile("../secret", experimentalsys.O_RDONLY, 0); e == 0 {
		t.Error("opened ../secret")
	}
	if _, err := openGrants(map[string]string{"relative/dir": "/data"}); err == nil {
		t.Error("a relative host directory was granted")
	}
}

// TestRenameImport: http_request moves to the host's namespace in place;
// other imports and a module without it are unchanged.
func TestRenameImport(t *testing.T) {
	_, wasm := plugintest.BuildBytes(t, "host/plugin/testdata/hostile/grants")
	out, found, err := renameImport(wasm, extismEnv, httpRequestFn, grantEnv)
	if err != nil || !found || len(out) != len(wasm) {
		t.Fatalf("found %v, %d bytes of %d: %v", found, len(out), len(wasm), err)
	}
	if bytes.Count(out, []byte(grantEnv)) != 1 || bytes.Count(wasm, []byte(extismEnv)) != bytes.Count(out, []byte(extismEnv))+1 {
		t.Fatal("not exactly one import moved")
	}
	_, plain := plugintest.BuildBytes(t, "host/plugin/testdata/hostile/auth")
	if out, found, err := renameImport(plain, extismEnv, httpRequestFn, grantEnv); err != nil || found || !bytes.Equal(out, plain) {
		t.Fatalf("a module without http_request: found %v, err %v", found, err)
	}
}

// FuzzRenameImport: no input makes the section reader panic or change the
// module's length.
func FuzzRenameImport(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x20\x01\x0fextism:host/env\x0chttp_request\x00\x00"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, _, err := renameImport(wasm, extismEnv, httpRequestFn, grantEnv)
		if err == nil && len(out) != len(wasm) {
			t.Fatalf("length changed: %d to %d", len(wasm), len(out))
		}
	})
}
