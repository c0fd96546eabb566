package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
)

// socketTailnet reaches the tailnet through the unix socket of a serving
// node on this machine (see socket.go for the other side).
type socketTailnet string

func (s socketTailnet) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", string(s))
	if err != nil {
		return nil, fmt.Errorf("node: the serving node's socket %s: %w", s, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("node: connecting to %s through %s: %w", addr, s, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		conn.Close()
		return nil, dialError(resp.Header, addr, trimSpace(msg))
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

func (s socketTailnet) Peers(ctx context.Context) (mesh.Peer, []mesh.Peer, error) {
	var st socketPeers
	err := s.get(ctx, "/peers", &st)
	return st.Self, st.Peers, err
}

func (s socketTailnet) Ping(ctx context.Context, addr netip.Addr) (mesh.Ping, error) {
	var p mesh.Ping
	err := s.get(ctx, "/ping?addr="+url.QueryEscape(addr.String()), &p)
	return p, err
}

func (s socketTailnet) Close() error { return nil }

// WatchPeers reads the serving node's stream of peer lists, one JSON array
// per line.
func (s socketTailnet) WatchPeers(ctx context.Context, fn func([]mesh.Peer) error) error {
	hc := s.httpClient()
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://local/watch", nil)
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("node: watching through %s: %w", s, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var peers []mesh.Peer
		if err := dec.Decode(&peers); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("node: watching through %s: %w", s, err)
		}
		if err := fn(peers); err != nil {
			return err
		}
	}
}

func (s socketTailnet) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", string(s))
		},
	}}
}

// get GETs path from the serving node and decodes its JSON answer.
func (s socketTailnet) get(ctx context.Context, path string, v any) error {
	hc := s.httpClient()
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://local"+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("node: %s through %s: %w", path, s, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("node: %s through the serving node: %s", path, trimSpace(msg))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("node: %s through %s: %w", path, s, err)
	}
	return nil
}

func trimSpace(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}
