package node

import (
	"context"
	"strings"

	"github.com/meshrpc/meshrpc/rpc"
)

// Allowed is one procedure as rpc.allowed reports it to a caller.
type Allowed struct {
	Name     string      `json:"name"`
	Summary  string      `json:"summary,omitempty"`
	Params   []rpc.Param `json:"params"`
	ReadOnly bool        `json:"read_only,omitempty"`
	Allowed  bool        `json:"allowed"`
	// By names the rule or grant that allows the call; Hint, for a denied
	// one, says what would allow it.
	By   string `json:"by,omitempty"`
	Hint string `json:"hint,omitempty"`
}

// AllowedParams are rpc.allowed's params.
type AllowedParams struct {
	// Why asks for the denied procedures too, each with what would allow it.
	Why bool `json:"why,omitempty"`
}

// registerAllowed registers rpc.allowed: the decision the server makes for
// every call (authz.Policy.Decide), applied to the caller for every
// procedure, so `meshrpc ls` never guesses.
func registerAllowed(r *rpc.Registry, n *Node) {
	rpc.Register(r, rpc.AllowedMethod, "Lists the procedures you may call here (with why: all, with the rule that allows each or what would).",
		func(ctx context.Context, p AllowedParams) ([]Allowed, error) {
			caller, _ := rpc.CallerFrom(ctx)
			policy := n.Policy()
			var out []Allowed
			for _, proc := range r.Procedures() {
				d := policy.Decide(caller, rpc.Access{Method: proc.Name, Keys: proc.Keys})
				if !d.Allowed && !p.Why {
					continue
				}
				if d.Allowed && d.Keys != nil {
					d.By += " (keys: " + strings.Join(d.Keys, ", ") + ")"
				}
				params := proc.Params
				if params == nil {
					params = []rpc.Param{}
				}
				summary := proc.Summary
				if !d.Allowed {
					summary = "" // a command's may show its argv: only to who may run it
				}
				out = append(out, Allowed{Name: proc.Name, Summary: summary, Params: params, ReadOnly: proc.ReadOnly,
					Allowed: d.Allowed, By: d.By, Hint: d.Hint})
			}
			return out, nil
		}).ReadOnly = true
}
