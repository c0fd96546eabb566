package rpc_test

import (
	"context"
	"fmt"
	"net"

	"github.com/meshrpc/meshrpc/rpc"
)

// Register a function, serve it, call it. Over a tailnet the listener comes
// from mesh.Node.Listen and the client dials with mesh.Node.Dial; here a
// loopback listener shows the same calls.
func ExampleRegister() {
	reg := rpc.NewRegistry()
	rpc.Register(reg, "greet", "Greets someone.", func(ctx context.Context, p struct {
		Name string `json:"name"`
	}) (string, error) {
		return "hello, " + p.Name, nil
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := rpc.NewServer(rpc.Config{Registry: reg})
	go srv.Serve(ln)
	defer srv.Close()

	c := rpc.NewClient(rpc.ClientConfig{Addr: ln.Addr().String()})
	defer c.Close()
	var greeting string
	c.Call(context.Background(), "greet", map[string]string{"name": "café"}, &greeting) // by name
	fmt.Println(greeting)
	c.Call(context.Background(), "greet", []string{"home"}, &greeting) // by position
	fmt.Println(greeting)
	err := c.Call(context.Background(), "greet", map[string]int{"name": 7}, &greeting)
	fmt.Println(rpc.CodeOf(err), err)
	// Output:
	// hello, café
	// hello, home
	// -32602 invalid params for greet: param "name" must be a string, not a number (code -32602)
}
