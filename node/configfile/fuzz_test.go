package configfile

import (
	"strings"
	"testing"
)

// FuzzParse: any bytes give a config or an error that names the file, never
// a panic or a hang; a config it accepts holds only checked procedures.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"procedures": [{"name": "x", "argv": ["echo", "{p}"], "params": [{"name": "p", "pattern": "a+"}]}]}`))
	f.Add([]byte(`{/* c */ "allow": ["self",], // trailing
	}`))
	f.Add([]byte(`{"port": 1e400}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("fuzz.hujson", b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.hujson") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, p := range c.Procedures {
			if err := p.Check(); err != nil {
				t.Fatalf("accepted a procedure that does not check: %v", err)
			}
		}
	})
}
