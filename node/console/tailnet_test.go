package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// The console a real node serves on its tailnet address, without a
// browser: its headers, the Host check in front of it (DNS rebinding gets
// 421) and the Origin check in front of /rpc (another site gets 403).
func TestConsoleOnTheTailnet(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	startHome(t, dn)
	phone := meshtest.Join(t, dn, mesh.Config{Hostname: "phone"})
	tr := &http.Transport{DialContext: phone.Dial}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	do := func(method, host, path, origin string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://home:4343"+path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"kv.put","params":["k",1]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	resp, body := do("GET", "home:4343", "/", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script src="/console.js"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if resp, _ := do("GET", "rebound.example:4343", "/", ""); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET / for a rebound name: %d, want 421", resp.StatusCode)
	}
	if resp, _ := do("POST", "home:4343", "/rpc", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /rpc from another origin: %d, want 403", resp.StatusCode)
	}
	if resp, body := do("POST", "home:4343", "/rpc", "http://home:4343"); resp.StatusCode != 200 || !strings.Contains(body, `"result"`) {
		t.Errorf("POST /rpc from the console's origin: %d %s", resp.StatusCode, body)
	}
}
