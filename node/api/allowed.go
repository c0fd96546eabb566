package api

import "github.com/meshrpc/meshrpc/rpc"

// AllowedParams are rpc.allowed's params.
type AllowedParams struct {
	// Why asks for the denied procedures too, each with what would allow it.
	Why bool `json:"why,omitempty"`
}

// Allowed is one procedure in rpc.allowed's result, as the node's
// authorization judges it for the caller.
type Allowed struct {
	Name     string      `json:"name"`
	Summary  string      `json:"summary,omitempty"`
	Params   []rpc.Param `json:"params"`
	ReadOnly bool        `json:"read_only,omitempty"`
	// Provider names the program on the node's machine that serves the
	// procedure, when one does ("program seed (pid 4242)").
	Provider string `json:"provider,omitempty"`
	Allowed  bool   `json:"allowed"`
	// By names the rule or grant that allows the call; Hint, for a denied
	// one, says what would allow it.
	By   string `json:"by,omitempty"`
	Hint string `json:"hint,omitempty"`
	// Keys, when set, are the only keys an allowed store procedure may be
	// called on (globs; "~/*" is the caller's personal space).
	Keys []string `json:"keys,omitempty"`
}
