package rpc_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshrpc/meshrpc/mesh/meshtest"
	"github.com/meshrpc/meshrpc/rpc"
)

// TestHTTP2RequestsCountAgainstTheSourcesShare: over cleartext HTTP/2 one
// connection carries up to 250 requests at once, each with a handler of its
// own, so a peer with a few connections could hold thousands of stalled
// bodies (128 connections x 250 streams: hundreds of MiB of handlers and
// headers, none of it bytes being read). A source has at most
// MaxConnsPerSource requests in progress: over the tailnet, a peer that
// begins 200 POSTs over h2c and stalls each body gets the ones past its
// share refused with 429 at once, while another peer's calls go on.
func TestHTTP2RequestsCountAgainstTheSourcesShare(t *testing.T) {
	_, nodes := meshtest.Nodes(t, "home", "cafe", "owner")
	srv, cafe, owner := nodes[0], nodes[1], nodes[2]
	ln, err := srv.Listen("tcp", ":4343")
	if err != nil {
		t.Fatal(err)
	}
	const share, posts = 16, 200
	s := rpc.NewServer(rpc.Config{Registry: testRegistry(), MaxConnsPerSource: share, BodyTimeout: time.Minute})
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := "http://" + srv.Addr().String() + ":4343/rpc"

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	// One connection carries them all (up to 250 streams): more would be
	// refused past the share of connections.
	tr := &http.Transport{Protocols: &h2c, DialContext: cafe.Dial, MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	stalled, stop := context.WithCancel(ctx)
	defer stop()
	refused := make(chan string, posts)
	var wg sync.WaitGroup
	for range posts {
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequestWithContext(stalled, "POST", url, pr)
		req.Header.Set("Content-Type", "application/json")
		wg.Go(func() {
			go pw.Write([]byte(`{"jsonrpc":"2.0",`)) // and no more
			resp, err := tr.RoundTrip(req)
			if stalled.Err() != nil {
				return // the test stopped waiting for it
			}
			if err != nil {
				refused <- "error " + err.Error()
				return
			}
			defer resp.Body.Close()
			msg, _ := io.ReadAll(resp.Body)
			refused <- resp.Status + " " + string(msg)
		})
	}
	for range posts - share {
		select {
		case msg := <-refused:
			if !strings.HasPrefix(msg, "429 ") || !strings.Contains(msg, "too many requests in progress") {
				t.Fatalf("a request past the share got %s", msg)
			}
		case <-ctx.Done():
			t.Fatalf("fewer than %d of %d stalled requests were refused", posts-share, posts)
		}
	}
	c := rpc.NewClient(rpc.ClientConfig{Addr: srv.Addr().String() + ":4343", Dial: owner.Dial})
	defer c.Close()
	if err := c.Call(ctx, "get_data", nil, nil); err != nil {
		t.Fatalf("another peer's call while the share is held: %v", err)
	}
	select {
	case msg := <-refused:
		t.Fatalf("%d requests refused, more than the %d past the share: %s", posts-share+1, posts-share, msg)
	default: // the share's requests still wait for their bodies (a minute)
	}
	stop()
	wg.Wait()
}
