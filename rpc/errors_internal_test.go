package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestOneErrorMapping proves that the code a client reads with CodeOf and
// the code the server sends for a handler's error are the same mapping.
func TestOneErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{Errorf(CodeConflict, "lost"), CodeConflict},
		{fmt.Errorf("wrapped: %w", Errorf(CodeNotFound, "gone")), CodeNotFound},
		{context.DeadlineExceeded, CodeDeadlineExceeded},
		{fmt.Errorf("read: %w", context.Canceled), CodeUnavailable},
		{&TransportError{Err: errors.New("reset")}, CodeUnavailable},
		{errors.New("boom"), CodeInternalError},
	} {
		if got := CodeOf(tc.err); got != tc.code {
			t.Errorf("CodeOf(%v) = %d, want %d", tc.err, got, tc.code)
		}
		if got := toError(tc.err).Code; got != tc.code {
			t.Errorf("toError(%v).Code = %d, want %d", tc.err, got, tc.code)
		}
	}
}
