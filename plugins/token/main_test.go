package main

import (
	"testing"
	"time"

	"github.com/ppcmesh/mesh/sdk/plugin/go/auth"
)

func TestDecide(t *testing.T) {
	p, err := parse("alpha, beta@2030-01-01T00:00:00Z ,gamma@2020-01-01T00:00:00+08:00", "")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	cases := []struct {
		name string
		r    auth.Request
		now  int64
		want auth.Decision
	}{
		{"no token", auth.Request{Caller: "container"}, 0, auth.Deny("missing token (x-ptp-token)")},
		{"unknown", auth.Request{Token: "alph"}, 0, auth.Deny("unknown token")},
		{"forever", auth.Request{Token: "alpha"}, exp, auth.Allow()},
		{"valid", auth.Request{Token: "beta"}, exp - 3600, auth.Decision{Allow: true, TTLms: maxTTL}},
		{"nearly", auth.Request{Token: "beta"}, exp - 3, auth.Decision{Allow: true, TTLms: 2000}},
		{"last second", auth.Request{Token: "beta"}, exp - 1, auth.Decision{Allow: true, TTLms: -1}},
		{"at expiry", auth.Request{Token: "beta"}, exp, auth.Deny("token expired at 2030-01-01T00:00:00Z")},
		{"expired", auth.Request{Token: "gamma"}, exp, auth.Deny("token expired at 2019-12-31T16:00:00Z")},
		{"partner", auth.Request{Caller: "partner", TLSIdentity: "node-b"}, exp, auth.Allow()},
	}
	for _, c := range cases {
		if got := p.decide(c.r, c.now); !equal(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	strict, _ := parse("alpha", "token")
	if got := strict.decide(auth.Request{Caller: "partner", TLSIdentity: "node-b"}, 0); got.Allow {
		t.Error("partners=token admitted a partner without a token")
	}
}

func equal(a, b auth.Decision) bool {
	return a.Allow == b.Allow && a.Reason == b.Reason && a.TTLms == b.TTLms && len(a.Headers) == len(b.Headers)
}

func TestParseErrors(t *testing.T) {
	for _, c := range [][2]string{{"", ""}, {" , ", ""}, {"a@tomorrow", ""}, {"@2030-01-01T00:00:00Z", ""}, {"a", "deny"}} {
		if _, err := parse(c[0], c[1]); err == nil {
			t.Errorf("%q, %q accepted", c[0], c[1])
		}
	}
	p, err := parse("user@example@2030-01-01T00:00:00Z", "")
	if err != nil || string(p.entries[0].token) != "user@example" {
		t.Errorf("token with @: %v", err)
	}
}
