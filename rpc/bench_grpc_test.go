package rpc_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshrpc/meshrpc/mesh"
)

// The grpc-go peer of the comparison: one unary method, Echo.Data, taking
// and returning a protobuf BytesValue. The service descriptor is written by
// hand, so no protoc run is needed; the wire is ordinary gRPC over h2.

type echoServer interface {
	Data(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

type grpcEcho struct{}

func (grpcEcho) Data(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return wrapperspb.Bytes([]byte(`["hello",5]`)), nil
}

var echoServiceDesc = grpc.ServiceDesc{
	ServiceName: "meshrpc.bench.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Data",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(echoServer).Data(ctx, in)
		},
	}},
}

// grpcClient serves Echo with grpc-go on srv's tailnet listener and returns
// a client connection from cli.
func grpcClient(b *testing.B, srv, cli *mesh.Node) *grpc.ClientConn {
	ln, err := srv.Listen("tcp", ":7002")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer()
	s.RegisterService(&echoServiceDesc, grpcEcho{})
	go s.Serve(ln)
	b.Cleanup(s.Stop)
	cc, err := grpc.NewClient("passthrough:///"+srv.Addr().String()+":7002",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return cli.Dial(ctx, "tcp", addr)
		}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return cc
}

func benchGRPC(b *testing.B, cc *grpc.ClientConn, conc int) {
	ctx := context.Background()
	in := wrapperspb.Bytes(nil)
	runBench(b, conc, func() error {
		return cc.Invoke(ctx, "/meshrpc.bench.Echo/Data", in, new(wrapperspb.BytesValue))
	})
}
