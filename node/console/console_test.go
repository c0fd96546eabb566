package console_test

import (
	"io/fs"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/node/console"
)

// The whole console stays small enough for a phone on a relayed path.
func TestPageWeight(t *testing.T) {
	var total int64
	fs.WalkDir(console.Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			total += info.Size()
		}
		return nil
	})
	t.Logf("page weight: %d bytes (%.1f KiB)", total, float64(total)/1024)
	if total > 100<<10 {
		t.Fatalf("the console weighs %d bytes; keep it under 100 KiB", total)
	}
}

func TestHeadersAndMethods(t *testing.T) {
	h := console.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200},
		{"GET", "/console.js", 200},
		{"HEAD", "/console.css", 200},
		{"GET", "/nothing.js", 404},
		{"GET", "/static", 404},
		{"POST", "/", 405},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
		if w.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.status)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s %s: CSP %q", tc.method, tc.path, csp)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if body := w.Body.String(); strings.Contains(body, "<script>") || strings.Contains(body, "style=") || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("index: inline script or style, or %q", w.Header().Get("Content-Type"))
	}
}
