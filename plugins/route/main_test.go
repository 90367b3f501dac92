package main

import (
	"testing"

	"github.com/ppcmesh/mesh/sdk/plugin/go/route"
)

const cfg = `/hello=respond:200:Hello from mesh: {method} {path}?{query}\n;
/api/=forward:http://127.0.0.1:9000
POST /v1/* x-env:test=respond:201:a\;b=c
/v1/x=next
/p=forward:node:node-b`

func TestHandle(t *testing.T) {
	rs, err := parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		r                    route.Request
		action, body, target string
		status               int
	}{
		{route.Request{Method: "GET", Path: "/hello", Query: "a=1"}, "respond", "Hello from mesh: GET /hello?a=1\n", "", 200},
		{route.Request{Method: "GET", Path: "/hello/x"}, "next", "", "", 0},
		{route.Request{Method: "PUT", Path: "/api/users"}, "forward", "", "http://127.0.0.1:9000", 0},
		{route.Request{Method: "POST", Path: "/v1/x", Headers: map[string]string{"x-env": "test"}}, "respond", "a;b=c", "", 201},
		{route.Request{Method: "POST", Path: "/v1/x", Headers: map[string]string{"x-env": "prod"}}, "next", "", "", 0},
		{route.Request{Method: "GET", Path: "/p"}, "forward", "", "node:node-b", 0},
		{route.Request{Method: "GET", Path: "/elsewhere"}, "next", "", "", 0},
	}
	for _, c := range cases {
		got := answer(rs, c.r)
		if got.Action != c.action || string(got.Body) != c.body || got.Target != c.target || got.Status != c.status {
			t.Errorf("%s %s: %+v (body %q)", c.r.Method, c.r.Path, got, got.Body)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"", "/x", "hello=next", "/x=respond:abc", "/x=respond:99", "/x=forward", "/x=teleport", "GET /a /b=next", "GET POST /a=next"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
