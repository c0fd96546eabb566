// Command cafe is the original "simplest RPC" client in Go: 5 concurrent
// workers do 1000 x (get + inc) on one counter of the home server, over the
// tailnet, and the count ends at exactly 5000.
//
//	MESHRPC_CONTROL_URL=... go run ./docs/examples/cafe
package main

import (
	"fmt"
	"sync"

	"github.com/meshrpc/meshrpc/node"
)

func main() {
	home := node.MustConnect("home")
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for range 1000 {
				home.MustCall("get", "hikakin")
				home.MustCall("inc", "hikakin")
			}
		})
	}
	wg.Wait()
	fmt.Println("hikakin", home.MustCall("get", "hikakin"))
}
