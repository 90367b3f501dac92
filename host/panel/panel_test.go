package panel

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandlerServesItsFilesOnly: the page, its script, style and icon with
// their types and the security headers; any other name is 404, also one no
// file can have (the file server alone answers those 500).
func TestHandlerServesItsFilesOnly(t *testing.T) {
	h := Handler()
	for path, want := range map[string]int{Path: 200, Path + "panel.js": 200, Path + "panel.css": 200, Path + "favicon.svg": 200,
		Path + "nope": 404, Path + "a\xffb": 404, Path + "../panel.go": 404} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = path
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("%q: %d, want %d", path, rec.Code, want)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%q: Content-Security-Policy %q", path, csp)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%q: headers %v", path, rec.Header())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path+"panel.js", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("panel.js served as %q", ct)
	}
}

// TestPageHasNoInlineScript: the Content-Security-Policy forbids inline
// script, so the page must have none (the browser test sees a violation
// as a console error; this finds it without a browser).
func TestPageHasNoInlineScript(t *testing.T) {
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "onclick=", "onload=", "javascript:", "style=\""} {
		if strings.Contains(string(page), bad) {
			t.Errorf("index.html has %q", bad)
		}
	}
}
