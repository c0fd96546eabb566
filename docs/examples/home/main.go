// Command home is the original "simplest RPC" server in Go: an in-memory
// key-value store and uname, offered on your tailnet instead of on every
// interface with a password.
//
//	go run ./docs/examples/home -hostname home
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
)

type key struct {
	K string `json:"k"`
}

type keyValue struct {
	K string `json:"k"`
	V any    `json:"v"`
}

func main() {
	hostname := flag.String("hostname", "home", "name on the tailnet")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	n, err := node.New(ctx, node.Config{Hostname: *hostname})
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	obj := map[string]any{}
	rpc.Register(n.Registry(), "get", "The value at k (created as 0 when absent).", func(ctx context.Context, p key) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := obj[p.K]; !ok {
			obj[p.K] = 0
		}
		return obj[p.K], nil
	})
	rpc.Register(n.Registry(), "put", "Sets k to v.", func(ctx context.Context, p keyValue) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		obj[p.K] = p.V
		return nil, nil
	})
	rpc.Register(n.Registry(), "inc", "Adds 1 to the number at k.", func(ctx context.Context, p key) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		v, _ := obj[p.K].(int)
		obj[p.K] = v + 1
		return v + 1, nil
	})
	rpc.Register(n.Registry(), "get_uname", "The server's uname.", func(ctx context.Context, _ struct{}) (api.Uname, error) {
		return node.MachineUname()
	})
	log.Printf("serving on %s", n.Addr())
	if err := n.Serve(ctx); err != nil {
		log.Fatal(err)
	}
}
