package realtailnet_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/mesh/realtailnet"
)

// TestMeshrpcCLIOnHeadscale drives the meshrpc binary on a real Headscale:
// two `meshrpc serve` nodes, and one-shot `meshrpc call`s from three
// identities (alice's laptop, bob's laptop, a node of tag:server).
func TestMeshrpcCLIOnHeadscale(t *testing.T) {
	meshrpcBinary(t)
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	bob := hs.CreateUser(t, "bob")
	aliceKey := hs.AuthKey(t, alice)
	bobKey := hs.AuthKey(t, bob)
	tagKey := hs.AuthKey(t, realtailnet.User{}, "tag:server")
	env := hs.ClientEnv()

	// home is alice's, with the default rule: her own devices only.
	home := newMeshrpc(t, hs.URL, "home", aliceKey, env)
	homeProc := home.serve()
	// office is a tagged server that lets other tag:server nodes call
	// anything, and alice the sys.* methods.
	office := newMeshrpc(t, hs.URL, "office", tagKey, env)
	officeProc := office.serve("--allow", "tag:server", "--allow", "user:alice=sys.*")

	laptop := newMeshrpc(t, hs.URL, "laptop", aliceKey, env)
	laptop.waitServing("home", homeProc)
	laptop.waitServing("office", officeProc)

	t.Run("a call succeeds and whoami shows the Headscale user", func(t *testing.T) {
		r := laptop.run("call", "home", "sys.whoami", "--json")
		if r.code != 0 {
			t.Fatalf("meshrpc call home sys.whoami: %v", r)
		}
		who := decodeWhoAmI(t, r.stdout)
		if who.Login != "alice" || who.Node != "laptop" {
			t.Errorf("home sees the laptop as %+v; want node laptop, login alice (Headscale's user)", who)
		}
	})

	t.Run("another user is denied by default", func(t *testing.T) {
		bobLaptop := newMeshrpc(t, hs.URL, "bobs-laptop", bobKey, env)
		r := bobLaptop.run("call", "home", "sys.ping")
		if r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
			t.Fatalf("bob's call to alice's home: %v; want exit 1 and permission denied", r)
		}
	})

	t.Run("a tagged node is let in by an --allow tag rule", func(t *testing.T) {
		robot := newMeshrpc(t, hs.URL, "robot", tagKey, env)
		r := robot.run("call", "office", "sys.whoami", "--json")
		if r.code != 0 {
			t.Fatalf("the tagged robot's call to office (--allow tag:server): %v", r)
		}
		who := decodeWhoAmI(t, r.stdout)
		if !slices.Contains(who.Tags, "tag:server") {
			t.Errorf("office sees the robot as %+v; want tag:server among its tags", who)
		}
		if r := robot.run("call", "home", "sys.ping"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("the tagged robot's call to home (default rule: self): %v; want permission denied", r)
		}
	})

	t.Run("a rule for a user allows only its methods", func(t *testing.T) {
		if r := laptop.run("call", "office", "sys.ping"); r.code != 0 {
			t.Errorf("alice's call of sys.ping on office (user:alice=sys.*): %v", r)
		}
		if r := laptop.run("call", "office", "kv.get", "k"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("alice's call of kv.get on office (user:alice=sys.*): %v; want permission denied", r)
		}
	})
}

// TestHeadscaleGrantLetsAnotherUserCallSys proves Headscale's "grants" with
// "app": meshrpc's capability with methods ["sys.*"] lets bob call sys.ping
// on alice's node, and nothing else, without restarting anything.
func TestHeadscaleGrantLetsAnotherUserCallSys(t *testing.T) {
	meshrpcBinary(t)
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	bob := hs.CreateUser(t, "bob")
	env := hs.ClientEnv()
	home := newMeshrpc(t, hs.URL, "home", hs.AuthKey(t, alice), env)
	homeProc := home.serve()
	laptop := newMeshrpc(t, hs.URL, "laptop", hs.AuthKey(t, alice), env)
	laptop.waitServing("home", homeProc)

	bobLaptop := newMeshrpc(t, hs.URL, "bobs-laptop", hs.AuthKey(t, bob), env)
	if r := bobLaptop.run("call", "home", "sys.ping"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("before the grant, bob's call: %v; want permission denied", r)
	}

	hs.SetPolicy(t, grantPolicy)
	// The policy reaches home with a map update; wait for it rather than
	// guess how long that takes.
	bobLaptop.waitServing("home", homeProc)

	if r := bobLaptop.run("call", "home", "kv.get", "k"); r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("with a sys.* grant, bob's call of kv.get: %v; want permission denied", r)
	}
	r := bobLaptop.run("call", "home", "sys.whoami", "--json")
	if r.code != 0 {
		t.Fatalf("with a sys.* grant, bob's call of sys.whoami: %v", r)
	}
	if who := decodeWhoAmI(t, r.stdout); who.Login != "bob" || len(who.Caps[rpcCap]) == 0 {
		t.Errorf("home sees bob as %+v; want login bob with the %s grant", who, rpcCap)
	}
}

// whoAmI is the part of sys.whoami's result these tests read.
type whoAmI struct {
	Node  string                       `json:"node"`
	Login string                       `json:"login"`
	Tags  []string                     `json:"tags"`
	Caps  map[string][]json.RawMessage `json:"caps"`
}

func decodeWhoAmI(t *testing.T, out string) whoAmI {
	t.Helper()
	var w whoAmI
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("sys.whoami printed %q: %v", out, err)
	}
	return w
}
