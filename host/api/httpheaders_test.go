package api

import (
	"net/http"
	"testing"
)

// TestHTTPHeadersReadsAsGet: httpHeaders answers as http.Header.Get for
// every name, and reads the names the decoding uses without allocating.
func TestHTTPHeadersReadsAsGet(t *testing.T) {
	h := http.Header{}
	for n := range canonical {
		h.Set(n, "v-"+n)
	}
	h.Set("x-other", "o")
	get := httpHeaders(h)
	for n := range canonical {
		if get(n) != h.Get(n) || get(n) == "" {
			t.Errorf("%s: %q, Get says %q", n, get(n), h.Get(n))
		}
	}
	if get("x-other") != "o" || get("x-absent") != "" {
		t.Error("names outside the table")
	}
	if n := testing.AllocsPerRun(100, func() {
		for name := range canonical {
			_ = get(name)
		}
	}); n != 0 {
		t.Errorf("%v allocations reading the table's names", n)
	}
}
