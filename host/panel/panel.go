// Package panel is the node's web panel: one page of plain HTML, CSS and
// JavaScript, embedded in the binary (no build step, no framework, nothing
// fetched from elsewhere), that polls the node's own /stats and control API
// and shows the node's identity, its partners with their live throughput,
// its queues, plugins, registered services, replicas and NATS, and a
// throughput graph of the last minutes.
//
// The node serves it beside the control API, under the same operator rule
// (host/api admin.go). The page reads the API with its own origin's
// credentials, or with an admin token typed into it and kept in the tab's
// sessionStorage; it renders no secret (the API redacts them).
package panel

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Path is where the panel is served; it ends with a slash.
const Path = "/panel/"

//go:embed static
var static embed.FS

// contentSecurityPolicy lets the page load only its own script and style
// and talk only to its own origin: no inline script, no other site, no
// framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the panel's files for requests under Path.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	serve := http.StripPrefix(Path, http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		// A name no file can have (invalid UTF-8, "..") is not found;
		// the file server would answer it 500.
		if name := strings.TrimPrefix(r.URL.Path, Path); name != "" && !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		serve.ServeHTTP(w, r)
	})
}
