package node

import (
	"context"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

// registerAllowed registers rpc.allowed: the decision the server makes for
// every call (authz.Policy.Decide), applied to the caller for every
// procedure, so `meshrpc ls` never guesses.
func registerAllowed(r *rpc.Registry, n *Node) {
	rpc.Register(r, authz.AllowedMethod, "Lists the procedures you may call here (with why: all, with the rule that allows each or what would).",
		func(ctx context.Context, p api.AllowedParams) ([]api.Allowed, error) {
			caller, _ := rpc.CallerFrom(ctx)
			policy := n.Policy()
			var out []api.Allowed
			for _, proc := range r.Procedures() {
				d := policy.Decide(caller, rpc.Access{Method: proc.Name, Keys: proc.Keys})
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
				out = append(out, api.Allowed{Name: proc.Name, Summary: summary, Params: params, ReadOnly: proc.ReadOnly, Provider: proc.Provider,
					Allowed: d.Allowed, By: d.By, Hint: d.Hint, Keys: d.Keys})
			}
			return out, nil
		}).ReadOnly = true
}
