package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/meshrpc/meshrpc/mesh"
	"github.com/meshrpc/meshrpc/mesh/devnet"
	"github.com/meshrpc/meshrpc/mesh/meshtest"
)

// TestServeStopsAfterPeersClosedTheirStreams: SIGTERM stops serve within
// 15 s, and cleanly, after a peer held a hundred streams each in the middle
// of a message and twenty POSTs in the middle of their bodies, then closed
// them all under the node (issue 19: after 900 such streams were held and
// closed, SIGTERM did not end serve in 3 of 4 tries, stuck in tsnet's
// Close). The streams' halves (160 KiB each) fit the peer's 16 MiB share
// of bytes being read, so the node holds all hundred; the POSTs' go past
// it and are refused with 429.
func TestServeStopsAfterPeersClosedTheirStreams(t *testing.T) {
	dn := meshtest.Net(t, devnet.Config{})
	state := filepath.Join(t.TempDir(), "home")
	logsOnFailure(t, state)
	s := serveHome(t, dn.ControlURL(), state)
	flood := meshtest.Join(t, dn, mesh.Config{Hostname: "flood"})
	home := peerAddr(t, flood, "home")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var held []func()
	hc := &http.Client{Transport: &http.Transport{DialContext: flood.Dial}}
	half := bytes.Repeat([]byte(" "), 160<<10)
	for range 100 {
		conn, _, err := websocket.Dial(ctx, "ws://"+home+":4343/rpc", &websocket.DialOptions{HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		// One whole call, so the stream is being served, then half a message.
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":1,"method":"sys.ping"}`)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := conn.Read(ctx); err != nil {
			t.Fatal(err)
		}
		w, err := conn.Writer(ctx, websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(half); err != nil {
			t.Fatal(err)
		}
		held = append(held, func() { conn.CloseNow() })
	}
	for range 20 {
		conn, err := flood.Dial(ctx, "tcp", net.JoinHostPort(home, "4343"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /rpc HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", home, 1<<20)
		if _, err := conn.Write(half); err != nil {
			t.Fatal(err)
		}
		held = append(held, func() { conn.Close() })
	}
	for _, close := range held {
		close()
	}
	took := s.stop(t, 20*time.Second) // fails the test unless serve exits 0
	t.Logf("serve stopped %v after SIGTERM", took.Round(time.Millisecond))
	if took > stopTimeout+time.Second {
		t.Errorf("serve took %v to stop, more than its bound of %v", took, stopTimeout)
	}
}
