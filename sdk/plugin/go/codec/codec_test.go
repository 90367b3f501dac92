package codec

import (
	"errors"
	"strings"
	"testing"
)

func reverse(dst, src []byte) ([]byte, error) {
	for i := len(src) - 1; i >= 0; i-- {
		dst = append(dst, src[i])
	}
	return dst, nil
}

func TestCallReusesScratch(t *testing.T) {
	var s state
	in := s.alloc(3)
	copy(in, "abc")
	out, isErr := s.call(reverse, "encode", in)
	if isErr || string(out) != "cba" {
		t.Fatalf("got %q, %v", out, isErr)
	}
	allocs := testing.AllocsPerRun(100, func() { s.call(reverse, "encode", s.alloc(3)) })
	if allocs != 0 {
		t.Errorf("%v allocations per call, want 0", allocs)
	}
}

func TestCallErrors(t *testing.T) {
	var s state
	msg, isErr := s.call(nil, "decode", nil)
	if !isErr || !strings.Contains(string(msg), "codec.Register") {
		t.Errorf("nil func: %q, %v", msg, isErr)
	}
	fail := func([]byte, []byte) ([]byte, error) { return nil, errors.New("bad input") }
	if msg, isErr = s.call(fail, "decode", nil); !isErr || string(msg) != "bad input" {
		t.Errorf("error: %q, %v", msg, isErr)
	}
	boom := func([]byte, []byte) ([]byte, error) { panic("boom") }
	if msg, isErr = s.call(boom, "encode", nil); !isErr || !strings.Contains(string(msg), "boom") {
		t.Errorf("panic: %q, %v", msg, isErr)
	}
}

func TestConfigure(t *testing.T) {
	var got map[string]string
	Register(Funcs{Configure: func(c map[string]string) error {
		got = c
		if c["level"] == "0" {
			return errors.New("level must be 1-9")
		}
		return nil
	}})
	defer Register(Funcs{})
	var s state
	if _, isErr := s.configure([]byte(`{"level":"5"}`)); isErr || got["level"] != "5" {
		t.Errorf("configure: %v, %v", got, isErr)
	}
	if msg, isErr := s.configure([]byte(`{"level":"0"}`)); !isErr || string(msg) != "level must be 1-9" {
		t.Errorf("refused: %q, %v", msg, isErr)
	}
	if _, isErr := s.configure(nil); isErr || got == nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, isErr)
	}
	if msg, isErr := s.configure([]byte(`{"level":5}`)); !isErr || !strings.Contains(string(msg), "JSON object of strings") {
		t.Errorf("not strings: %q, %v", msg, isErr)
	}
}

func TestFitReleasesHugeBuffers(t *testing.T) {
	big := fit(nil, 8<<20)
	if b := fit(big, 100); cap(b) >= cap(big) {
		t.Errorf("kept a %d-byte buffer for 100 bytes", cap(b))
	}
	small := fit(nil, 1000)
	if b := fit(small, 10); &b[0] != &small[0] {
		t.Error("did not reuse a small buffer")
	}
}
