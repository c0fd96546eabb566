// Package grpcecho is the grpc-go peer of meshrpc's benchmarks: one unary
// method, Echo.Data, that takes and returns a protobuf BytesValue and does
// nothing else. The service descriptor is written by hand, so no protoc
// run is needed; the wire is ordinary gRPC over h2. Only benchmarks import
// it: grpc-go never enters the meshrpc binary.
package grpcecho

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Method is Echo.Data's full name, for ClientConn.Invoke.
const Method = "/meshrpc.bench.Echo/Data"

type echoServer interface {
	Data(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

type echo struct{}

// reply is about the size of a small meshrpc answer.
var reply = []byte(`["hello",5]`)

func (echo) Data(_ context.Context, _ *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return wrapperspb.Bytes(reply), nil
}

var serviceDesc = grpc.ServiceDesc{
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

// Serve serves Echo on ln until ln is closed or stop is called.
func Serve(ln net.Listener) (stop func()) {
	s := grpc.NewServer()
	s.RegisterService(&serviceDesc, echo{})
	go s.Serve(ln)
	return s.Stop
}

// Dial returns a client of the Echo server at addr ("100.64.0.2:7002"),
// reached through dial (a tailnet node's Dial).
func Dial(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dial(ctx, "tcp", addr)
		}))
}

// Call makes one Echo.Data call on cc.
func Call(ctx context.Context, cc *grpc.ClientConn) error {
	return cc.Invoke(ctx, Method, wrapperspb.Bytes(nil), new(wrapperspb.BytesValue))
}
