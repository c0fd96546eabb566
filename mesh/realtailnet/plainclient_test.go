package realtailnet_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

func TestTailscaledAndCurlReachAMeshNodeOnHeadscale(t *testing.T) {
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	key := hs.AuthKey(t, alice)
	home := joinHeadscale(t, hs, "home", key)
	serveWhoAmI(t, home)

	phone := realtailnet.StartTailscaled(t, realtailnet.TailscaledConfig{ControlURL: hs.URL, AuthKey: key, Env: hs.ClientEnv()})
	phone.WaitPeer(t, "home")
	out, err := phone.Curl(t, "-d", "hi", "http://home:4343/rpc")
	if err != nil {
		t.Fatalf("curl: %v\ntailscaled's log:\n%s", err, phone.Log())
	}
	if got, want := strings.TrimSpace(string(out)), "phone alice hi"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
}

func TestTailscaledAndCurlReachAMeshNodeOnTheDevnet(t *testing.T) {
	dn, nodes := meshtest.Nodes(t, "home")
	home := nodes[0]
	serveWhoAmI(t, home)

	phone := realtailnet.StartTailscaled(t, realtailnet.TailscaledConfig{ControlURL: dn.ControlURL()})
	phone.WaitPeer(t, "home")
	out, err := phone.Curl(t, "-d", "hi", "http://home:4343/rpc")
	if err != nil {
		t.Fatalf("curl: %v\ntailscaled's log:\n%s", err, phone.Log())
	}
	if got, want := strings.TrimSpace(string(out)), "phone "+home.Self().User+" hi"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
}

// serveWhoAmI answers HTTP on n's port 4343 with the caller's node and
// login as n's WhoIs gives them, and the request body.
func serveWhoAmI(t *testing.T, n *mesh.Node) {
	ln, err := n.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		id, err := n.WhoIs(r.Context(), r.RemoteAddr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, id.Node+" "+id.Login+" "+string(b))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// pingRequest is the JSON-RPC request a plain client sends.
const pingRequest = `{"jsonrpc":"2.0","id":1,"method":"sys.ping"}`

func TestTailscaledAndCurlCallMeshrpcOnHeadscale(t *testing.T) {
	meshrpcBinary(t)
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	key := hs.AuthKey(t, alice)
	home := newMeshrpc(t, hs.URL, "home", key, hs.ClientEnv())
	homeProc := home.serve()
	newMeshrpc(t, hs.URL, "laptop", key, hs.ClientEnv()).waitServing("home", homeProc)

	// The phone is alice's too: the node's default rule (self) lets it in.
	phone := realtailnet.StartTailscaled(t, realtailnet.TailscaledConfig{ControlURL: hs.URL, AuthKey: key, Env: hs.ClientEnv()})
	curlPing(t, phone, "home")
}

func TestTailscaledAndCurlCallMeshrpcOnTheDevnet(t *testing.T) {
	meshrpcBinary(t)
	dn := meshtest.Net(t, devnet.Config{})
	home := newMeshrpc(t, dn.ControlURL(), "home", "", nil)
	homeProc := home.serve()
	newMeshrpc(t, dn.ControlURL(), "laptop", "", nil).waitServing("home", homeProc)

	phone := realtailnet.StartTailscaled(t, realtailnet.TailscaledConfig{ControlURL: dn.ControlURL()})
	curlPing(t, phone, "home")
}

// curlPing sends sys.ping to node's /rpc with curl through phone's SOCKS5
// proxy, as a person with the Tailscale app would.
func curlPing(t *testing.T, phone *realtailnet.Tailscaled, node string) {
	t.Helper()
	phone.WaitPeer(t, node)
	out, err := phone.Curl(t, "-H", "Content-Type: application/json", "-d", pingRequest, "http://"+node+":4343/rpc")
	if err != nil {
		t.Fatalf("curl: %v\ntailscaled's log:\n%s", err, phone.Log())
	}
	var resp struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      int             `json:"id"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(out, &resp); err != nil || resp.JSONRPC != "2.0" || resp.ID != 1 || resp.Result == nil || resp.Error != nil {
		t.Fatalf("curl got %q (%v); want a JSON-RPC 2.0 result for id 1", out, err)
	}
}
