// Package console is a node's web console: a few static files, embedded in
// the binary, that a browser on the tailnet loads from the node's own
// address (GET /) and that act only by calling /rpc, with the browser
// device's tailnet identity. It has no server-side logic of its own, so it
// can grant nothing that a call could not.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
)

//go:embed static
var static embed.FS

// Files are the console's files, for measuring and testing.
func Files() fs.FS {
	sub, _ := fs.Sub(static, "static")
	return sub
}

// securityHeaders keep the page to itself: scripts and styles only from
// the node, connections only back to it, no framing, no referrer.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "no-referrer",
	"X-Frame-Options":        "DENY",
	"Cache-Control":          "no-cache",
}

// Handler serves the console: GET or HEAD of / and its files.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console is read-only; it acts through POST /rpc", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path != "/" && path.Ext(r.URL.Path) == "" {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	})
}
