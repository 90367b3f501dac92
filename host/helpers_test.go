package host_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b), err
}

// assertNoPrivateKey fails when body carries any private key material.
func assertNoPrivateKey(t testing.TB, body string) {
	t.Helper()
	for _, bad := range []string{"PRIVATE KEY", "root_key", `"key"`, "KeyPEM"} {
		if strings.Contains(body, bad) {
			t.Fatalf("response contains %q: %s", bad, body)
		}
	}
}
