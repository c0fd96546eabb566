package api

import (
	"encoding/json"

	"github.com/meshrpc/meshrpc/rpc"
)

// ProgramProtocol names the protocol a program on the node's machine speaks
// on the local socket (docs/protocol.md, "Programs on the node's machine"):
// one JSON line each way to begin (Hello, then Welcome), then JSON-RPC 2.0
// messages, one per line, both ways.
const ProgramProtocol = "program/1"

// Hello is a program's first line: who it is and what it provides.
type Hello struct {
	Meshrpc string `json:"meshrpc"` // ProgramProtocol
	// Name is the program's name, shown by `meshrpc ls` beside what it
	// provides: 1 to 64 letters, digits, '.', '_' or '-'.
	Name string `json:"name"`
	// Provide declares the procedures the program serves; none for a
	// program that only calls.
	Provide []Provided `json:"provide,omitempty"`
}

// Provided is one procedure a program declares.
type Provided struct {
	Name     string      `json:"name"`
	Summary  string      `json:"summary,omitempty"`
	Params   []rpc.Param `json:"params,omitempty"`
	Result   rpc.Schema  `json:"result,omitempty"`
	ReadOnly bool        `json:"read_only,omitempty"`
	// KeyParam names the param that holds the key the call touches (a
	// string, as the store's keys are): the node's key-scoped rules and
	// grants ("kv.*@shared/*") then apply to the procedure, and the
	// program gets the key as granted ("~/x" as "~LOGIN/x"). KeyPrefix says
	// the param names every key under a prefix.
	KeyParam  string `json:"key_param,omitempty"`
	KeyPrefix bool   `json:"key_prefix,omitempty"`
	// TimeoutMs bounds a call when its caller sets no shorter deadline;
	// zero means the node's default.
	TimeoutMs int64 `json:"timeout_ms,omitempty"`
}

// Welcome is the node's answer to a Hello: the node's name and the
// procedures now provided, or why none are (Error; the node then closes
// the connection).
type Welcome struct {
	Meshrpc  string     `json:"meshrpc,omitempty"`
	Node     string     `json:"node,omitempty"`
	Provided []string   `json:"provided,omitempty"`
	Error    *rpc.Error `json:"error,omitempty"`
}

// ProgramRequest is a JSON-RPC request on a program's connection. From the
// node to the program it is a call of a provided procedure: Params always by
// name (an object), with the Caller as the tailnet identified it, the
// TimeoutMs left of the caller's deadline and the CallID of the call. From
// the program to the node it is a call the program makes, of Node ("home";
// empty for this node) within TimeoutMs.
type ProgramRequest struct {
	JSONRPC   string          `json:"jsonrpc"`
	ID        json.RawMessage `json:"id,omitempty"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params,omitempty"`
	Node      string          `json:"node,omitempty"`
	Caller    *rpc.Caller     `json:"caller,omitempty"`
	TimeoutMs int64           `json:"timeout_ms,omitempty"`
	CallID    string          `json:"call_id,omitempty"`
}

// ProgramResponse is a JSON-RPC response on a program's connection, either
// way: Result or Error.
type ProgramResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpc.Error      `json:"error,omitempty"`
}
