package realtailnet_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

func TestTailscaledAndCurlReachAMeshNodeOnHeadscale(t *testing.T) {
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	key := hs.AuthKey(t, alice)
	home := joinHeadscale(t, hs, "home", key)
	ln, err := home.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		id, _ := home.WhoIs(r.Context(), r.RemoteAddr)
		io.WriteString(w, id.Node+" "+id.Login+" "+string(b))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	phone := realtailnet.StartTailscaled(t, realtailnet.TailscaledConfig{ControlURL: hs.URL, AuthKey: key, Env: hs.ClientEnv()})
	phone.WaitPeer(t, "home")
	out, err := phone.Curl(t, "-d", "hi", "http://home:4343/rpc")
	if err != nil {
		t.Fatalf("curl: %v\ntailscaled:\n%s", err, phone.Log())
	}
	if got, want := strings.TrimSpace(string(out)), "phone alice hi"; got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
}
