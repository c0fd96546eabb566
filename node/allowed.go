package node

import (
	"context"
	"strings"

	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
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

// everyoneMayAsk is the reason rpc.allowed itself is always allowed.
const everyoneMayAsk = "every caller may ask what it may call"

// registerAllowed registers rpc.allowed: the node's own authorization,
// applied to the caller for every procedure, so `meshrpc ls` never guesses.
func registerAllowed(r *rpc.Registry, n *Node) {
	rpc.Register(r, rpc.AllowedMethod, "Lists the procedures you may call here (with why: all, with the rule that allows each or what would).",
		func(ctx context.Context, p AllowedParams) ([]Allowed, error) {
			caller, _ := rpc.CallerFrom(ctx)
			policy := n.Policy()
			var out []Allowed
			for _, proc := range r.Procedures() {
				d := authz.Decision{Allowed: true, By: everyoneMayAsk}
				if proc.Name != rpc.AllowedMethod {
					d = policy.Explain(caller, proc.Name)
				}
				if kvMethods[proc.Name] {
					d = storeDecision(d, caller)
				}
				if !d.Allowed && !p.Why {
					continue
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

// storeDecision says where in the store a kv.* decision applies: only on
// some keys, or, with no rule at all, in the caller's personal space.
func storeDecision(d authz.Decision, c rpc.Caller) authz.Decision {
	switch {
	case d.Allowed && d.Keys != nil:
		d.By += " (keys: " + strings.Join(d.Keys, ", ") + ")"
	case !d.Allowed && authz.HasPersonalSpace(c):
		d = authz.Decision{Allowed: true, By: "your personal space only: keys beginning with ~/", Keys: []string{"~/*"}}
	}
	return d
}
