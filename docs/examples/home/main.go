// Command home is the original "simplest RPC" server in Go: an in-memory
// key-value store and uname, offered on your tailnet instead of on every
// interface with a password. Calls run one at a time, as with BaseManager.
//
//	MESHRPC_CONTROL_URL=... go run ./docs/examples/home
package main

import (
	"context"
	"log"

	"github.com/meshrpc/meshrpc/node"
)

func main() {
	obj := map[string]any{} // an in-memory KVS, as in the original
	log.Fatal(node.ServeFuncs(context.Background(), node.Config{Hostname: "home"}, node.Funcs{
		"get": func(k string) any { return obj[k] },
		"put": func(k string, v any) { obj[k] = v },
		"inc": func(k string) float64 {
			n, _ := obj[k].(float64)
			obj[k] = n + 1
			return n + 1
		},
		"get_uname": node.MachineUname, // tells the caller which OS the server runs
	}))
}
