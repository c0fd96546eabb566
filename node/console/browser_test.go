package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// chromium finds Debian's chromium; without it the browser tests skip,
// except under CI, where .ci/run installs it and its absence is a failure.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser tests")
	return ""
}

// phoneProxy is an HTTP proxy that reaches the tailnet through dev, a
// tsnet node of the test: a browser set to use it is a device of the
// tailnet, as a phone running the Tailscale app is.
func phoneProxy(t *testing.T, dev *mesh.Node) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: dev.Dial}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.Out.URL, r.Out.Host = r.In.URL, r.In.Host },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only plain HTTP to tailnet nodes: the browser's own background
		// requests (CONNECT to HTTPS hosts) go nowhere.
		if r.Method == http.MethodConnect || r.URL.Scheme != "http" {
			http.Error(w, "this proxy reaches only tailnet nodes over plain HTTP", http.StatusMethodNotAllowed)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	return ln.Addr().String()
}

// browser starts a headless chromium, phone-sized, using the proxy.
func browser(t *testing.T, proxy string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.ProxyServer("http://"+proxy),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(412, 915),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls a JavaScript condition in the page until it is true.
func waitFor(js string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := poll(ctx, t); err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", js, err)
		}
		return chromedp.Void{}, nil
	}
}

// screenshot saves the page to $MESHRPC_SCREENSHOTS/name, when set (the
// pictures in docs/ come from such a run).
func screenshot(name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		dir := os.Getenv("MESHRPC_SCREENSHOTS")
		if dir == "" {
			return chromedp.Void{}, nil
		}
		png, err := chromedp.FullScreenshot(100)(ctx, t) // 100: PNG
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
}

// A phone on the tailnet uses home's console: it reads who it is, calls
// sys.uname from a form, puts and increments a key and sees the list
// follow, and sees a procedure it may not call reported as denied.
func TestConsoleFromAPhone(t *testing.T) {
	chromium(t)
	dn := meshtest.Net(t, devnet.Config{SeparateUsers: true})
	home := startHome(t, dn, "self", "node:phone=sys.whoami,sys.info,sys.uname,sys.peers,kv.*")
	phone := meshtest.Join(t, dn, mesh.Config{Hostname: "phone"})
	ctx := browser(t, phoneProxy(t, phone))

	err := chromedp.Do(ctx,
		chromedp.Navigate("http://home:4343/"),
		waitFor(`document.querySelector("#who").textContent.includes("You are phone")`),
		waitFor(`document.querySelector('form[data-method="sys.uname"]') !== null`),
		screenshot("console-phone.png"),

		chromedp.Click(chromedp.CSS(`details[data-method="sys.uname"] summary`)),
		chromedp.Click(chromedp.CSS(`form[data-method="sys.uname"] button`)),
		waitFor(`(document.querySelector('form[data-method="sys.uname"] pre.result.ok') || {}).textContent?.includes("Linux")`),

		chromedp.SetValue(chromedp.CSS(`#put-key`), "visits"),
		chromedp.SetValue(chromedp.CSS(`#put-value`), "41"),
		chromedp.Click(chromedp.CSS(`#put-form button`)),
		waitFor(`(document.querySelector('li.entry[data-key="visits"] .value') || {}).textContent === "41"`),
		chromedp.Click(chromedp.CSS(`li.entry[data-key="visits"] .actions button:nth-child(2)`)),
		waitFor(`(document.querySelector('li.entry[data-key="visits"] .value') || {}).textContent === "42"`),
		screenshot("console-store.png"),

		// Another writer's change reaches the page through kv.watch alone.
		func(context.Context, *chromedp.Target) (chromedp.Void, error) {
			_, err := home.Store().Put("from-elsewhere", json.RawMessage(`"hello"`))
			return chromedp.Void{}, err
		},
		waitFor(`(document.querySelector('li.entry[data-key="from-elsewhere"] .value') || {}).textContent === '"hello"'`),
		chromedp.Click(chromedp.CSS(`li.entry[data-key="from-elsewhere"] .actions button:last-of-type`)),
		waitFor(`document.querySelector('li.entry[data-key="from-elsewhere"]') === null`),

		// The peers home sees, the phone among them, with their meshrpc status.
		waitFor(`[...document.querySelectorAll("#peer-list li.peer")].some((li) => li.textContent.startsWith("phone ") && li.textContent.includes("no meshrpc"))`),

		chromedp.Click(chromedp.CSS(`#denied-box summary`)),
		chromedp.Click(chromedp.CSS(`details[data-method="sys.stats"] summary`)),
		chromedp.Click(chromedp.CSS(`form[data-method="sys.stats"] button`)),
		waitFor(`(document.querySelector('form[data-method="sys.stats"] pre.result.error') || {}).textContent?.startsWith("denied: permission denied")`),
		screenshot("console-denied.png"),
	)
	if err != nil {
		t.Fatal(err)
	}
	paint, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first contentful paint: %.0f ms after navigation started", paint)
	if v, ok, err := home.Store().Get("visits"); err != nil || !ok || string(v.Value) != "42" {
		t.Fatalf("the store holds %s (%v, %v), want 42", v.Value, ok, err)
	}
	if _, ok, _ := home.Store().Get("from-elsewhere"); ok {
		t.Fatal("the page's Delete left from-elsewhere in the store")
	}
}

// A page from another origin, open in the same browser, cannot make the
// node act: its cross-site requests are refused before any call runs.
func TestAnotherOriginCannotMakeTheNodeAct(t *testing.T) {
	chromium(t)
	dn := meshtest.Net(t, devnet.Config{})
	home := startHome(t, dn)
	phone := meshtest.Join(t, dn, mesh.Config{Hostname: "phone"})
	ctx := browser(t, phoneProxy(t, phone))

	// The evil page is served from 127.0.0.1 (not through the proxy).
	evil := `<!doctype html><body><form id=f method=POST action="http://home:4343/rpc" enctype="text/plain" target=sink>
<input name='{"jsonrpc":"2.0","id":1,"method":"kv.put","params":["evil-form",1],"x":"' value='"}'></form><iframe name=sink></iframe>
<script>
const put = (key, type) => fetch("http://home:4343/rpc", {method: "POST", mode: "no-cors", headers: {"Content-Type": type},
  body: JSON.stringify({jsonrpc: "2.0", id: 1, method: "kv.put", params: [key, 1]})}).catch(() => {});
Promise.all([put("evil-text", "text/plain"), put("evil-json", "application/json")]).then(() => {
  document.getElementById("f").submit(); setTimeout(() => { window.done = true; }, 1000); });
</script></body>`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, evil) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+ln.Addr().String()+"/"),
		waitFor(`window.done === true`),
	); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"evil-text", "evil-json", "evil-form"} {
		if _, ok, _ := home.Store().Get(key); ok {
			t.Errorf("a page from another origin wrote %q", key)
		}
	}
	// The same browser, on the console itself, may.
	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://home:4343/"),
		chromedp.SetValue(chromedp.CSS(`#put-key`), "own"),
		chromedp.SetValue(chromedp.CSS(`#put-value`), "1"),
		chromedp.Click(chromedp.CSS(`#put-form button`)),
		waitFor(`document.querySelector('li.entry[data-key="own"]') !== null`),
	); err != nil {
		t.Fatal(err)
	}
}

func startHome(t *testing.T, dn *devnet.Net, allow ...string) *node.Node {
	n, err := node.New(context.Background(), node.Config{
		Hostname: "home", StateDir: filepath.Join(t.TempDir(), "home"), ControlURL: dn.ControlURL(),
		InMemory: true, Allow: allow, Progress: discard{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
