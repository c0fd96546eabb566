package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/node"
)

// A serve process that is killed is listed offline by peers (not probed),
// and a call to it fails at once saying so, with exit status 3. A Go
// client whose connection to it is left dead (no one closed it) fails its
// call with the same typed error once the tailnet says so, rather than
// wait for ever.
func TestAKilledNodeIsShownOffline(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	home := serveHome(t, dn.ControlURL(), filepath.Join(t.TempDir(), "home"))
	cafe := []string{"--hostname", "cafe", "--state-dir", filepath.Join(t.TempDir(), "cafe")}
	if r := run(t, dn.ControlURL(), append(cafe, "call", "home", "sys.ping")...); r.code != 0 {
		t.Fatalf("call home sys.ping: exit %d, %s", r.code, r.stderr)
	}
	phone, err := node.Dial(context.Background(), node.ClientConfig{
		Hostname: "phone", StateDir: filepath.Join(t.TempDir(), "phone"),
		ControlURL: dn.ControlURL(), Progress: io.Discard, NoSocket: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if err := phone.Call(context.Background(), "home", "sys.ping", nil, nil); err != nil {
		t.Fatal(err)
	}

	home.cmd.Process.Kill()
	<-home.exited
	home.ended = true

	// A minute, not for ever: without the tailnet's answer, this call
	// would wait for a reply on a connection that is dead.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	killed := time.Now()
	err = phone.Call(ctx, "home", "sys.ping", nil, nil)
	took := time.Since(killed)
	cancel()
	var oe *mesh.OfflineError
	if !errors.Is(err, mesh.ErrOffline) || !errors.As(err, &oe) || oe.Name != "home" {
		t.Fatalf("a Go client's call to home, killed: %v; want a *mesh.OfflineError", err)
	}
	t.Logf("a Go client's call to home, killed: %v (after %v)", err, took.Round(time.Millisecond))

	var rows []peerRow
	poll.Until(t, 30*time.Second, func() error {
		r := run(t, dn.ControlURL(), append(cafe, "peers", "--json")...)
		rows = nil
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			return fmt.Errorf("peers --json: %v; stderr %s", err, r.stderr)
		}
		for _, row := range rows {
			if row.Name == "home" && !row.Online {
				return nil
			}
		}
		return fmt.Errorf("peers does not list home offline: %s", r.stdout)
	})
	for _, row := range rows {
		if row.Name == "home" && (row.LastSeen.IsZero() || row.Ping != nil || row.PingError != "" || row.Error != "") {
			t.Errorf("home, offline: %+v; want a last-seen time and no probe", row)
		}
	}

	r := run(t, dn.ControlURL(), append(cafe, "call", "home", "sys.ping")...)
	if r.code != 3 || !strings.Contains(r.stderr, "sys.ping on home: home (") || !strings.Contains(r.stderr, ") is offline (last seen ") {
		t.Fatalf("call home, killed: exit %d, stderr %q; want exit 3 saying home is offline", r.code, r.stderr)
	}
	t.Logf("call home, killed: %s", strings.TrimSpace(r.stderr))
	r = run(t, dn.ControlURL(), append(cafe, "peers")...)
	t.Logf("peers:\n%s", r.stdout)
}
