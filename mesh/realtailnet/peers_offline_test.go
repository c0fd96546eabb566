package realtailnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"tailscale.com/envknob"

	"github.com/meshrpc/meshrpc/internal/poll"
	"github.com/meshrpc/meshrpc/mesh/realtailnet"
	"github.com/meshrpc/meshrpc/node"
)

// On a control server that tracks presence (Headscale), `meshrpc peers`
// with 10 peers, 3 of them offline, probes only the 7 online ones and
// shows the others as offline. It logs how long a fresh process takes.
func TestPeersWithOfflinePeersOnHeadscale(t *testing.T) {
	meshrpcBinary(t)
	hs := realtailnet.StartHeadscale(t, realtailnet.HeadscaleConfig{})
	alice := hs.CreateUser(t, "alice")
	envknob.Setenv("TS_DEBUG_USE_DERP_HTTP", "true") // see joinHeadscale
	t.Cleanup(func() { envknob.Setenv("TS_DEBUG_USE_DERP_HTTP", "") })

	start := func(name string) (stop func()) {
		n, err := node.New(context.Background(), node.Config{
			Hostname: name, StateDir: filepath.Join(t.TempDir(), name), ControlURL: hs.URL,
			AuthKey: hs.AuthKey(t, alice), InMemory: true, Progress: io.Discard, NoAccounting: true,
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Serve(ctx) }()
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				cancel()
				<-done
			}
		}
		t.Cleanup(stop)
		return stop
	}
	for i := range 7 {
		start(fmt.Sprintf("srv%d", i))
	}
	for i := range 3 {
		start(fmt.Sprintf("gone%d", i))()
	}
	laptop := newMeshrpc(t, hs.URL, "laptop", hs.AuthKey(t, alice), hs.ClientEnv())

	type row struct {
		Name    string
		Online  bool
		Meshrpc bool
	}
	count := func(rows []row) (online, offline, meshrpc int) {
		for _, r := range rows {
			switch {
			case !r.Online:
				offline++
			case r.Meshrpc:
				meshrpc++
				online++
			default:
				online++
			}
		}
		return
	}
	// peers runs meshrpc peers in a fresh process and checks what it shows.
	peers := func() (took time.Duration, err error) {
		t0 := time.Now()
		// A probe of an online peer may take more than the default 2 s
		// when the machine is loaded (CI runs packages side by side); the
		// offline ones are not probed, so a longer timeout costs nothing
		// unless they were.
		r := laptop.run("peers", "--json", "--timeout", "10s")
		took = time.Since(t0)
		var rows []row
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil {
			t.Fatalf("peers: %v", r)
		}
		if online, offline, meshrpc := count(rows); len(rows) != 10 || offline != 3 || meshrpc != 7 {
			return took, fmt.Errorf("peers shows %d peers, %d offline, %d running meshrpc (online %d); want 10, 3 and 7:\n%s", len(rows), offline, meshrpc, online, r.stdout)
		}
		return took, nil
	}
	// Headscale marks the stopped nodes offline after a while.
	poll.Until(t, time.Minute, func() error { _, err := peers(); return err })
	var took []time.Duration
	for range 5 {
		d, err := peers()
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, d)
	}
	slices.Sort(took)
	t.Logf("meshrpc peers, 10 peers of which 3 offline, fresh process: median %v (5 runs: %v)", took[len(took)/2], took)
}
