package rpc

import (
	"context"
	"errors"
	"fmt"
)

// Codes of JSON-RPC 2.0 errors. The first five are the specification's; the
// application codes in -32000..-32099 are meshrpc's and documented in
// docs/protocol.md. The set is closed: every error a client sees has one.
const (
	CodeParseError     = -32700 // the body is not JSON
	CodeInvalidRequest = -32600 // JSON, but not a JSON-RPC 2.0 request
	CodeMethodNotFound = -32601 // no procedure of that name
	CodeInvalidParams  = -32602 // params do not fit the procedure
	CodeInternalError  = -32603 // the handler failed or panicked

	CodePermissionDenied = -32001 // the caller may not call this method
	CodeNotFound         = -32002 // the thing the call names does not exist
	CodeConflict         = -32003 // a compare-and-swap or similar lost a race
	CodeDeadlineExceeded = -32004 // the call's deadline passed
	CodeUnavailable      = -32005 // the node (or peer) cannot serve now; retry later
	CodeTooManyRequests  = -32006 // the caller has too many calls in flight
	CodeQuotaExceeded    = -32007 // the write would take a space past its quota
)

// Error is a JSON-RPC error object. Handlers return one (or wrap one) to
// choose the code a caller sees; any other error becomes CodeInternalError.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the JSON-RPC code carried by err: 0 for nil, the code of
// the first *Error in its chain, CodeDeadlineExceeded for an expired
// context, CodeUnavailable for a canceled context or a transport failure,
// CodeInternalError otherwise. It is the one mapping from Go errors to
// codes: the server answers a handler's error with the code CodeOf gives.
func CodeOf(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	var te *TransportError
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	case errors.Is(err, context.Canceled), errors.As(err, &te):
		return CodeUnavailable
	}
	return CodeInternalError
}

// toError turns a handler's error into the error object sent to the
// caller: the first *Error in its chain, or a new one with the code CodeOf
// gives and a message that says why.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code := CodeOf(err)
	msg := err.Error()
	switch {
	case code == CodeDeadlineExceeded:
		msg = "deadline exceeded: " + msg
	case errors.Is(err, context.Canceled):
		msg = "canceled: " + msg
	}
	return &Error{Code: code, Message: msg}
}
