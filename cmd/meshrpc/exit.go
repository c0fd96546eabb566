package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshrpc/meshrpc/rpc"
)

// Exit codes of the CLI contract.
const (
	exitOK          = 0
	exitCallError   = 1 // the call returned an error
	exitUsage       = 2
	exitUnreachable = 3 // the tailnet or the peer could not be reached
)

// usageError is a mistake in how meshrpc was invoked.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// unreachableError is a failure to reach the tailnet or a peer.
type unreachableError struct{ err error }

func (e unreachableError) Error() string { return e.err.Error() }
func (e unreachableError) Unwrap() error { return e.err }

// silentError carries an exit code for a failure already reported (a
// fan-out prints its rows, then exits 1).
type silentError struct{ code int }

func (e silentError) Error() string { return "" }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var se silentError
	var re unreachableError
	var te *rpc.TransportError
	switch {
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &re), errors.As(err, &te), errors.Is(err, context.DeadlineExceeded):
		return exitUnreachable
	}
	if c := rpc.CodeOf(err); c == rpc.CodeUnavailable {
		return exitUnreachable
	}
	return exitCallError
}
