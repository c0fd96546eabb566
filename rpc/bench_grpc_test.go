package rpc_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

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
	call := func() error {
		out := new(wrapperspb.BytesValue)
		return cc.Invoke(ctx, "/meshrpc.bench.Echo/Data", in, out)
	}
	for range 100 {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			for range work {
				t := time.Now()
				if err := call(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	reportLatency(b, lat)
}
