package rpc_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/rpc"
)

// TestThousandIdleConnectionsDoNotStopService: one source opening a
// thousand idle connections gets its share (MaxConnsPerSource; the rest are
// closed as they are accepted), and another source's calls go on.
func TestThousandIdleConnectionsDoNotStopService(t *testing.T) {
	addr := serve(t, rpc.Config{})
	flooder := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	conns := make([]net.Conn, 0, 1000)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 1000 {
		c, err := flooder.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	var d []any
	if err := client(t, addr).Call(context.Background(), "get_data", nil, &d); err != nil {
		t.Fatalf("a call beside 1000 idle connections: %v", err)
	}
	// The last of the flood was over the share: closed, not held.
	conns[999].SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := conns[999].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the 1000th connection from one source: read %v, want EOF (closed at once)", err)
	}
}

func TestClientVanishingMidResponse(t *testing.T) {
	reg := testRegistry()
	rpc.Register(reg, "big", "A large result.", func(ctx context.Context, _ struct{}) (string, error) {
		return strings.Repeat("x", 4<<20), nil
	})
	addr := serve(t, rpc.Config{Registry: reg})
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		body := `{"jsonrpc":"2.0","id":1,"method":"big"}`
		io.WriteString(c, "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body)
		buf := make([]byte, 100)
		io.ReadFull(c, buf) // the reply has started
		c.Close()           // and the client is gone
	}
	var d []any
	if err := client(t, addr).Call(context.Background(), "get_data", nil, &d); err != nil {
		t.Fatalf("after clients vanished mid-response: %v", err)
	}
}
