package rpc_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	"github.com/meshrpc/meshrpc/internal/grpcecho"
	"github.com/meshrpc/meshrpc/mesh"
)

// grpcClient serves grpcecho on srv's tailnet listener and returns a client
// connection from cli.
func grpcClient(b *testing.B, srv, cli *mesh.Node) *grpc.ClientConn {
	ln, err := srv.Listen("tcp", ":7002")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(grpcecho.Serve(ln))
	cc, err := grpcecho.Dial(srv.Addr().String()+":7002", cli.Dial)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return cc
}

func benchGRPC(b *testing.B, cc *grpc.ClientConn, conc int) {
	ctx := context.Background()
	runBench(b, conc, func() error { return grpcecho.Call(ctx, cc) })
}
