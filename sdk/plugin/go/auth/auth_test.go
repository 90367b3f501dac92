package auth

import (
	"encoding/json"
	"testing"

	"github.com/ppcmesh/mesh/sdk/plugin/go/internal/fakehost"
)

func TestServe(t *testing.T) {
	Register(func(r Request) (Decision, error) {
		if r.SourceNode == "node-b" && r.Now == 42 {
			return Decision{Allow: true, Headers: map[string]string{"x-by": "test"}, TTLms: -1}, nil
		}
		return Deny("no"), nil
	})
	defer Register(nil)
	fakehost.Reset([]byte(`{"method":"push","session":"s","source_node":"node-b","caller":"partner","now":42}`), nil)
	if rc := serve(); rc != 0 {
		t.Fatalf("rc %d: %s", rc, fakehost.Error())
	}
	want := `{"allow":true,"headers":{"x-by":"test"},"ttl_ms":-1}`
	if got := string(fakehost.Output()); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestServeWithoutPolicy(t *testing.T) {
	fakehost.Reset([]byte(`{}`), nil)
	if rc := serve(); rc == 0 || fakehost.Error() == "" {
		t.Errorf("rc %d, error %q", rc, fakehost.Error())
	}
}

func TestDenyJSON(t *testing.T) {
	b, _ := json.Marshal(Deny("unknown token"))
	if string(b) != `{"allow":false,"reason":"unknown token"}` {
		t.Errorf("got %s", b)
	}
}
