package pdk

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ppcmesh/mesh/sdk/plugin/go/internal/fakehost"
)

func TestInputOutput(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 1000} {
		in := bytes.Repeat([]byte("abcdefghijk"), 100)[:n]
		fakehost.Reset(in, nil)
		if got := Input(); !bytes.Equal(got, in) {
			t.Fatalf("Input of %d bytes: %q", n, got)
		}
		Output(in)
		if got := fakehost.Output(); !bytes.Equal(got, in) {
			t.Fatalf("Output of %d bytes: %q", n, got)
		}
	}
}

func TestConfigVarsLogError(t *testing.T) {
	fakehost.Reset(nil, map[string]string{"key": "a value of some length"})
	if v, ok := Config("key"); !ok || v != "a value of some length" {
		t.Errorf("Config(key) = %q, %v", v, ok)
	}
	if _, ok := Config("missing"); ok {
		t.Error("Config(missing) found")
	}
	SetVar("n", []byte("123456789"))
	if v, ok := Var("n"); !ok || string(v) != "123456789" {
		t.Errorf("Var(n) = %q, %v", v, ok)
	}
	SetVar("n", nil)
	if _, ok := Var("n"); ok {
		t.Error("deleted var found")
	}
	Log(LevelWarn, "careful")
	if l := fakehost.Logs(); len(l) != 1 || l[0] != (fakehost.Entry{Level: "warn", Msg: "careful"}) {
		t.Errorf("logs %v", l)
	}
	SetError(errors.New("it broke"))
	if fakehost.Error() != "it broke" {
		t.Errorf("error %q", fakehost.Error())
	}
}

type pair struct{ A, B int }

func TestHandleJSON(t *testing.T) {
	sum := func(p pair) (int, error) {
		if p.A < 0 {
			return 0, errors.New("negative")
		}
		if p.A == 0 {
			panic("zero")
		}
		return p.A + p.B, nil
	}
	cases := []struct{ in, out, err string }{
		{`{"A":1,"B":2}`, "3", ""},
		{`{"A":-1}`, "", "negative"},
		{`{"A":0}`, "", "panicked: zero"},
		{`not json`, "", "bad input"},
	}
	for _, c := range cases {
		fakehost.Reset([]byte(c.in), nil)
		rc := HandleJSON(sum)
		if string(fakehost.Output()) != c.out || !strings.Contains(fakehost.Error(), c.err) || (rc == 0) != (c.err == "") {
			t.Errorf("%s: rc %d, output %q, error %q", c.in, rc, fakehost.Output(), fakehost.Error())
		}
	}
}
