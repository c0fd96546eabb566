package node

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
)

func TestRunsMeshrpc(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, true},
		{&rpc.Error{Code: rpc.CodePermissionDenied, Message: "permission denied"}, true},
		{fmt.Errorf("home: %w", &rpc.Error{Code: rpc.CodeMethodNotFound}), true},
		{&rpc.TransportError{Addr: "home:4343", Method: "sys.info", Err: errors.New("connection refused")}, false},
		{context.DeadlineExceeded, false},
	} {
		if got := RunsMeshrpc(tc.err); got != tc.want {
			t.Errorf("RunsMeshrpc(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
