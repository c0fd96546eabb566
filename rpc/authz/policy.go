package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/meshrpc/meshrpc/rpc"
)

// CapName is the tailnet app capability whose grants allow methods:
//
//	"grants": [{"src": ["tag:laptop"], "dst": ["tag:home"],
//	  "app": {"github.com/meshrpc/meshrpc/cap/rpc": [{"methods": ["kv.*", "sys.*"]}]}}]
const CapName = "github.com/meshrpc/meshrpc/cap/rpc"

// Grant is one value of the capability in a tailnet policy grant.
type Grant struct {
	Methods []string `json:"methods"`
	// Keys would narrow a grant to some keys of the store. This node does
	// not enforce key scopes yet, so a grant that names keys grants nothing
	// here rather than every key: it fails closed.
	Keys []string `json:"keys,omitempty"`
}

// Config configures a Policy.
type Config struct {
	// Rules allow callers locally. Empty means the default, "self": only
	// the node's own user; rules given replace it.
	Rules []Rule
	// SelfLogin is the node's own user login, which "self" matches.
	SelfLogin string
	// NodeName names the node in denials.
	NodeName string
	// CapName is the grant capability; default CapName.
	CapName string
}

// Policy decides calls. It is immutable and safe for concurrent use.
type Policy struct {
	rules     []Rule
	selfLogin string
	nodeName  string
	capName   string
}

// New returns the policy for cfg.
func New(cfg Config) *Policy {
	p := &Policy{rules: cloneRules(cfg.Rules), selfLogin: cfg.SelfLogin, nodeName: cfg.NodeName, capName: cfg.CapName}
	if len(p.rules) == 0 {
		p.rules = []Rule{{Principal: "self"}}
	}
	if p.capName == "" {
		p.capName = CapName
	}
	if p.nodeName == "" {
		p.nodeName = "this node"
	}
	return p
}

// Rules are the local rules in force (the default included), as a copy.
func (p *Policy) Rules() []Rule { return cloneRules(p.rules) }

// cloneRules copies rules deeply, so that neither New's caller nor Rules'
// can change a Policy that other goroutines are reading.
func cloneRules(rules []Rule) []Rule {
	out := make([]Rule, 0, len(rules))
	for _, r := range rules {
		out = append(out, Rule{Principal: r.Principal, Methods: slices.Clone(r.Methods)})
	}
	return out
}

// Decision is the outcome of a check and its reason.
type Decision struct {
	Allowed bool   `json:"allowed"`
	By      string `json:"by,omitempty"`   // the rule or grant that allowed it
	Hint    string `json:"hint,omitempty"` // when denied: what would allow it
}

// Explain decides whether c may call method, and why.
func (p *Policy) Explain(c rpc.Caller, method string) Decision {
	for _, r := range p.rules {
		if p.principalMatches(r.Principal, c) && r.matchesMethod(method) {
			return Decision{Allowed: true, By: "rule " + r.String()}
		}
	}
	for _, raw := range c.Caps[p.capName] {
		var g Grant
		if json.Unmarshal(raw, &g) != nil || len(g.Keys) > 0 {
			continue // a malformed or key-scoped grant grants nothing (see Grant)
		}
		if anyGlob(g.Methods, method) {
			return Decision{Allowed: true, By: "grant " + p.capName + " " + string(raw)}
		}
	}
	return Decision{Hint: p.hint(c, method)}
}

// Authorize is Explain as an rpc.Config.Authorize: nil when allowed, else a
// permission-denied error that names the caller, the method and this node,
// and says how to allow the call.
func (p *Policy) Authorize(ctx context.Context, c rpc.Caller, method string) error {
	d := p.Explain(c, method)
	if d.Allowed {
		return nil
	}
	return &rpc.Error{
		Code:    rpc.CodePermissionDenied,
		Message: fmt.Sprintf("permission denied: %s may not call %s on %s; %s", describe(c), method, p.nodeName, d.Hint),
	}
}

func (p *Policy) principalMatches(principal string, c rpc.Caller) bool {
	switch {
	case principal == "*":
		return true
	case principal == "self":
		// Tagged devices share the tailnet's tagged-devices login; they are
		// not "your own devices" however their login reads.
		return p.selfLogin != "" && c.Login == p.selfLogin && len(c.Tags) == 0
	case strings.HasPrefix(principal, "user:"):
		return c.Login != "" && c.Login == principal[len("user:"):]
	case strings.HasPrefix(principal, "tag:"):
		return c.HasTag(principal)
	case strings.HasPrefix(principal, "node:"):
		name := strings.TrimSuffix(principal[len("node:"):], ".")
		return name != "" && (strings.EqualFold(name, c.Node) || strings.EqualFold(name, strings.TrimSuffix(c.NodeFQDN, ".")))
	}
	return false
}

// hint says what would allow c to call method. It suggests the narrowest
// principal that names the caller: a tag for a tagged device (its login is
// the tailnet's shared tagged-devices user, so user: would allow every tagged
// device), else the node, with the user as an alternative.
func (p *Policy) hint(c rpc.Caller, method string) string {
	var principals []string
	if len(c.Tags) > 0 {
		principals = append(principals, c.Tags[0])
	}
	if c.Node != "" {
		principals = append(principals, "node:"+c.Node)
	}
	if c.Login != "" && len(c.Tags) == 0 {
		principals = append(principals, "user:"+c.Login)
	}
	grant := fmt.Sprintf("grant the tailnet app capability %s {\"methods\":[%q]}", p.capName, method)
	if len(principals) == 0 {
		// Without a name only "*" can match; say so rather than suggest a
		// rule that cannot work.
		return fmt.Sprintf("the caller could not be identified, so only a '*' rule allows it: run meshrpc serve on %s with --allow '*=%s' (anyone on the tailnet), or %s",
			p.nodeName, method, grant)
	}
	allow := fmt.Sprintf("--allow '%s=%s'", principals[0], method)
	if len(principals) > 1 {
		allow += fmt.Sprintf(" (or --allow '%s=%s')", principals[1], method)
	}
	return fmt.Sprintf("to allow it, run meshrpc serve on %s with %s, or %s", p.nodeName, allow, grant)
}

func describe(c rpc.Caller) string {
	switch {
	case c.Node != "" && c.Login != "":
		return c.Node + " (" + c.Login + ")"
	case c.Node != "":
		return c.Node
	case c.Login != "":
		return c.Login
	case c.Addr != "":
		return "an unidentified caller at " + c.Addr
	}
	return "an unidentified caller"
}
