package route

import (
	"testing"

	"github.com/ppcmesh/mesh/sdk/plugin/go/internal/fakehost"
)

func TestServe(t *testing.T) {
	Register(func(r Request) (Response, error) {
		switch r.Path {
		case "/hello":
			return Respond(200, "hi "+r.Header("X-Name")+" "+string(r.Body)), nil
		case "/api":
			return Forward("http://127.0.0.1:9000"), nil
		}
		return Next(), nil
	})
	defer Register(nil)
	cases := []struct{ in, out string }{
		{`{"method":"GET","path":"/hello","headers":{"x-name":"ann"},"body":"Ym9keQ=="}`, `{"action":"respond","status":200,"body":"aGkgYW5uIGJvZHk="}`},
		{`{"method":"GET","path":"/api"}`, `{"action":"forward","target":"http://127.0.0.1:9000"}`},
		{`{"method":"GET","path":"/other"}`, `{"action":"next"}`},
	}
	for _, c := range cases {
		fakehost.Reset([]byte(c.in), nil)
		if rc := serve(); rc != 0 || string(fakehost.Output()) != c.out {
			t.Errorf("%s: rc %d, output %s, error %q", c.in, rc, fakehost.Output(), fakehost.Error())
		}
	}
}
