package realtailnet_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
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
