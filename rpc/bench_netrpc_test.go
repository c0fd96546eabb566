package rpc_test

import (
	netrpc "net/rpc"
	"testing"

	"github.com/meshrpc/meshrpc/mesh"
)

// Echo is the do-little service net/rpc serves in the comparison.
type Echo struct{}

// Data answers like the meshrpc test procedure get_data.
func (Echo) Data(_ struct{}, reply *[]any) error {
	*reply = []any{"hello", 5}
	return nil
}

// netRPCClient serves Echo with Go's net/rpc on srv's tailnet listener and
// returns a client on cli: the peer a Go user would pick instead.
func netRPCClient(b *testing.B, srv, cli *mesh.Node) *netrpc.Client {
	ln, err := srv.Listen("tcp", ":7001")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	s := netrpc.NewServer()
	if err := s.Register(Echo{}); err != nil {
		b.Fatal(err)
	}
	go s.Accept(ln)
	conn, err := cli.Dial(b.Context(), "tcp", srv.Addr().String()+":7001")
	if err != nil {
		b.Fatal(err)
	}
	c := netrpc.NewClient(conn)
	b.Cleanup(func() { c.Close() })
	return c
}

func benchNetRPC(b *testing.B, c *netrpc.Client, conc int) {
	runBench(b, conc, func() error {
		var reply []any
		return c.Call("Echo.Data", struct{}{}, &reply)
	})
}
