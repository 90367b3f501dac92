package network

import (
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host/ptp"
)

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in        string
		grpc, tls bool
		host      string
		code      ptp.Code
	}{
		{"10.0.0.1:7304", true, true, "10.0.0.1:7304", ""},
		{"grpcs://mesh.bank.example:443", true, true, "mesh.bank.example:443", ""},
		{"https://mesh.bank.example:8443/", false, true, "mesh.bank.example:8443", ""},
		{"h2c://127.0.0.1:7304", true, false, "127.0.0.1:7304", ""},
		{"grpc://127.0.0.1:7304", true, false, "127.0.0.1:7304", ""},
		{"HTTP://127.0.0.1:80", false, false, "127.0.0.1:80", ""},
		{"ftp://127.0.0.1:21", false, false, "", ptp.BadAddress},
		{"no-port", false, false, "", ptp.BadAddress},
		{"https://host:", false, false, "", ptp.BadAddress},
	} {
		a, err := ParseAddress(tc.in)
		if c, _ := ptp.Describe(err); tc.code != "" && c != tc.code {
			t.Errorf("%q: want %s, got %v", tc.in, tc.code, err)
			continue
		}
		if tc.code == "" && (err != nil || a.GRPC != tc.grpc || a.TLS != tc.tls || a.Host != tc.host) {
			t.Errorf("%q: got %+v, %v", tc.in, a, err)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1:1", "https://[::1]:443", "h2c://x:1/", "://", "a://b://c:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err == nil && a.Host == "" {
			t.Fatalf("%q parsed without a host", s)
		}
	})
}

func TestEffectiveState(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		r    Route
		want State
		code ptp.Code
	}{
		{Route{State: StateWoven}, StateWoven, ptp.OK},
		{Route{State: StateWoven, Disabled: true}, StateDisabled, ptp.PeerDisabled},
		{Route{State: StateWoven, ExpiresAt: now.Add(-time.Second)}, StateExpired, ptp.NetworkExpired},
		{Route{State: StateWoven, ExpiresAt: now.Add(time.Hour)}, StateWoven, ptp.OK},
		{Route{State: StatePending}, StatePending, ptp.NotWoven},
		{Route{State: StateNew}, StateNew, ptp.NotWoven},
		{Route{State: StatePending, PendingUntil: now.Add(-time.Second)}, StateExpired, ptp.NetworkExpired},
		{Route{State: StatePending, PendingUntil: now.Add(time.Hour)}, StatePending, ptp.NotWoven},
	} {
		if got := tc.r.Effective(now); got != tc.want {
			t.Errorf("%+v: state %s, want %s", tc.r, got, tc.want)
		}
		if c, _ := ptp.Describe(tc.r.usable(now)); c != tc.code {
			t.Errorf("%+v: code %s, want %s", tc.r, c, tc.code)
		}
	}
}
