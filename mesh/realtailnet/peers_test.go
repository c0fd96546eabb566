package realtailnet_test

import (
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// TestMeshrpcPeersListsTheServerEveryTimeOnHeadscale runs `meshrpc peers`
// several times from one state directory, as a person does. Each run joins
// again; against Headscale the first network map after Join may list no
// peers yet (see TestARejoiningNodeDialsAPeerByNameAtOnce), so a list taken
// at once would be empty: the client waits briefly for the first peers.
func TestMeshrpcPeersListsTheServerEveryTimeOnHeadscale(t *testing.T) {
	meshrpcBinary(t)
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	env := hs.ClientEnv()
	home := newMeshrpc(t, hs.URL, "home", hs.AuthKey(t, alice), env)
	homeProc := home.serve()
	laptop := newMeshrpc(t, hs.URL, "laptop", hs.AuthKey(t, alice), env)
	laptop.waitServing("home", homeProc)

	for i := range 3 {
		r := laptop.run("peers")
		if r.code != 0 || !strings.Contains(r.stdout, "home") {
			t.Fatalf("run %d of meshrpc peers: %v; want a row for home", i+1, r)
		}
	}
}
