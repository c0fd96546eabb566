// Command cafe is the original "simplest RPC" client in Go: it calls the
// home server over the tailnet, then has 5 concurrent callers do 1000 x
// (get + inc) on one counter, which ends at exactly 5000.
//
//	go run ./docs/examples/cafe -server home
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sync"

	"github.com/meshrpc/meshrpc/node"
)

func main() {
	server := flag.String("server", "home", "the home server's tailnet name")
	hostname := flag.String("hostname", "cafe", "this node's name on the tailnet")
	flag.Parse()
	ctx := context.Background()

	c, err := node.Dial(ctx, node.ClientConfig{Hostname: *hostname})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	call := func(method string, params, result any) {
		if err := c.Call(ctx, *server, method, params, result); err != nil {
			log.Fatalf("%s: %v", method, err)
		}
	}

	var v, uname any
	call("get", []any{"a"}, &v)
	fmt.Println("get", v)
	call("put", []any{"a", 10}, nil)
	call("get", []any{"a"}, &v)
	fmt.Println("get", v) // a number, no .conjugate() needed
	call("get_uname", nil, &uname)
	fmt.Println("get_uname", uname)

	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for range 1000 {
				call("get", []any{"hikakin"}, nil)
				call("inc", []any{"hikakin"}, nil)
			}
		})
	}
	wg.Wait()
	var count int
	call("get", []any{"hikakin"}, &count)
	fmt.Println("hikakin", count)
}
