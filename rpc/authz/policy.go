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
	// Keys narrows the grant to the store's keys matching these globs
	// ("shared/*"); empty means every key.
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
	ruleBy    []string // "rule " + rules[i].String(), made once: Explain runs per call
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
	for _, r := range p.rules {
		p.ruleBy = append(p.ruleBy, "rule "+r.String())
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
	// Keys, when set, limits an allowed store method to the keys matching
	// these globs: every rule or grant that allowed it was key-scoped.
	Keys []string `json:"keys,omitempty"`
}

// Explain decides whether c may call method (on some keys, for a store
// method), and why.
func (p *Policy) Explain(c rpc.Caller, method string) Decision {
	var scoped Decision
	for i, r := range p.rules {
		if !p.principalMatches(r.Principal, c) {
			continue
		}
		if ok, keys := r.scope(method); ok && keys == nil {
			return Decision{Allowed: true, By: p.ruleBy[i]}
		} else if ok {
			scoped = addScope(scoped, p.ruleBy[i], keys)
		}
	}
	for _, raw := range c.Caps[p.capName] {
		var g Grant
		if json.Unmarshal(raw, &g) != nil || !anyGlob(g.Methods, method) {
			continue // a malformed grant grants nothing
		}
		by := "grant " + p.capName + " " + string(raw)
		if len(g.Keys) == 0 {
			return Decision{Allowed: true, By: by}
		}
		scoped = addScope(scoped, by, g.Keys)
	}
	if scoped.Allowed {
		return scoped
	}
	return Decision{Hint: p.hint(c, method, "")}
}

func addScope(d Decision, by string, keys []string) Decision {
	if !d.Allowed {
		d = Decision{Allowed: true, By: by}
	}
	d.Keys = append(d.Keys, keys...)
	return d
}

// Personal keys: "~/x" is the caller's own "~LOGIN/x", which only that
// person reaches without a rule; see PersonalKey.
const personalPrefix = "~/"

// PersonalKey turns the caller's "~/..." into its stored form
// "~LOGIN/...", and reports whether key is personal at all. A tagged
// device has no person's login, so it has no personal space.
func PersonalKey(c rpc.Caller, key string) (string, error) {
	if !strings.HasPrefix(key, personalPrefix) {
		return key, nil
	}
	if !HasPersonalSpace(c) {
		return "", &rpc.Error{Code: rpc.CodePermissionDenied, Message: fmt.Sprintf(
			"permission denied: %s has no personal space (keys beginning with ~/ belong to a person's login; tagged devices have none)", describe(c))}
	}
	return "~" + c.Login + "/" + key[len(personalPrefix):], nil
}

// HasPersonalSpace reports whether c is a person's device, with a login
// whose "~/" keys are its own: tagged devices belong to the tailnet.
func HasPersonalSpace(c rpc.Caller) bool { return c.Login != "" && len(c.Tags) == 0 }

// owner is the login whose personal space key is in ("" if none).
func owner(key string) string {
	if !strings.HasPrefix(key, "~") {
		return ""
	}
	login, _, _ := strings.Cut(key[1:], "/")
	return login
}

// ExplainKey decides whether c may call the store method on key (in its
// stored form: see PersonalKey). A person's own space is always theirs;
// another's is reached only through a key-scoped rule or grant whose glob
// names it (begins with ~); other keys need a rule or grant for method
// whose scope, if any, matches key.
func (p *Policy) ExplainKey(c rpc.Caller, method, key string) Decision {
	return p.explainWhere(c, method, key, Glob)
}

// ExplainPrefix is ExplainKey for a method that reads every key under
// prefix (kv.list, kv.watch): a key-scoped rule allows it when its glob
// covers the whole prefix ("shared/*" covers "shared/" and "shared/a").
// An unscoped rule allows it, but other people's personal keys under it
// stay theirs: FilterKey tells which to leave out.
func (p *Policy) ExplainPrefix(c rpc.Caller, method, prefix string) Decision {
	return p.explainWhere(c, method, prefix, covers)
}

func (p *Policy) explainWhere(c rpc.Caller, method, where string, match func(glob, s string) bool) Decision {
	if o := owner(where); o != "" && o == c.Login && HasPersonalSpace(c) {
		return Decision{Allowed: true, By: "personal space of " + o}
	}
	d := p.Explain(c, method)
	switch {
	case !d.Allowed:
		d.Hint = p.hint(c, method, where)
		return d
	case owner(where) != "":
		for _, g := range d.Keys {
			if strings.HasPrefix(g, "~") && match(g, where) {
				return d
			}
		}
		return Decision{Hint: fmt.Sprintf("keys under ~%s/ are %s's own; only a key-scoped rule or grant naming them (e.g. --allow '...=%s@~%s/*') opens them to others", owner(where), owner(where), method, owner(where))}
	case d.Keys == nil:
		return d
	}
	for _, g := range d.Keys {
		if match(g, where) {
			return d
		}
	}
	return Decision{Hint: fmt.Sprintf("%s allows %s only on keys matching %s; %s", d.By, method, strings.Join(d.Keys, ", "), p.hint(c, method, where))}
}

// covers reports whether every key under prefix matches glob.
func covers(glob, prefix string) bool {
	stem, ok := strings.CutSuffix(glob, "*")
	return ok && !strings.Contains(stem, "*") && strings.HasPrefix(prefix, stem)
}

// FilterKey reports whether a key that a list or watch under an allowed
// prefix found may be shown to c: not another person's personal key,
// unless a key-scoped rule or grant names it.
func (p *Policy) FilterKey(c rpc.Caller, method, key string) bool {
	if owner(key) == "" {
		return true
	}
	return p.ExplainKey(c, method, key).Allowed
}

// EveryoneMayAsk is why rpc.allowed is always allowed: its answer is about
// the caller only.
const EveryoneMayAsk = "every caller may ask what it may call"

// AllowedMethod is the procedure that says which procedures the caller may
// call, and why: Decide applied to every procedure (package node serves
// it). Every caller may call it.
const AllowedMethod = "rpc.allowed"

// Decide is the one decision of a call: the server's Authorize and
// rpc.allowed's answers both come from it. For a procedure that declares
// no key, only an unscoped rule or grant allows it: a key-scoped one
// ("kv.*@shared/*") allows only procedures that touch keys. For one that
// declares a key, before the key is known (a.KeyKnown false), it says
// whether the caller may call the method on some key (a person always may,
// in their own space); with the key, which must be in its stored form (see
// PersonalKey), it is ExplainKey or ExplainPrefix.
func (p *Policy) Decide(c rpc.Caller, a rpc.Access) Decision {
	switch {
	case a.Method == AllowedMethod:
		return Decision{Allowed: true, By: EveryoneMayAsk}
	case a.Keys == rpc.NoKey:
		d := p.Explain(c, a.Method)
		if d.Allowed && d.Keys != nil {
			return Decision{Hint: fmt.Sprintf("%s allows %s only on keys matching %s, and %s takes no key; %s",
				d.By, a.Method, strings.Join(d.Keys, ", "), a.Method, p.hint(c, a.Method, ""))}
		}
		return d
	case !a.KeyKnown:
		d := p.Explain(c, a.Method)
		if !d.Allowed && HasPersonalSpace(c) {
			return Decision{Allowed: true, By: "your personal space", Keys: []string{"~/*"}}
		}
		return d
	case a.Keys == rpc.KeyPrefix:
		return p.ExplainPrefix(c, a.Method, a.Key)
	}
	return p.ExplainKey(c, a.Method, a.Key)
}

// Authorize is Decide as an rpc.Config.Authorize: a permission-denied error
// that names the caller, the method (and key) and this node, and says how
// to allow the call; or, for a key, the grant: the key in its stored form
// and, for a prefix, which keys found under it the caller may see.
func (p *Policy) Authorize(ctx context.Context, c rpc.Caller, a rpc.Access) (rpc.Grant, error) {
	if !a.KeyKnown {
		return rpc.Grant{}, p.Deny(c, a.Method, p.Decide(c, a))
	}
	key, err := PersonalKey(c, a.Key)
	if err != nil {
		return rpc.Grant{}, err
	}
	a.Key = key
	if err := p.Deny(c, fmt.Sprintf("%s on %s %s", a.Method, a.Keys, rpc.Quote(key, 128)), p.Decide(c, a)); err != nil {
		return rpc.Grant{}, err
	}
	g := rpc.Grant{Key: key}
	if a.Keys == rpc.KeyPrefix {
		g.Show = func(k string) bool { return p.FilterKey(c, a.Method, k) }
	}
	return g, nil
}

// Deny is the error for a decision: nil when it allows.
func (p *Policy) Deny(c rpc.Caller, what string, d Decision) error {
	if d.Allowed {
		return nil
	}
	return &rpc.Error{
		Code:    rpc.CodePermissionDenied,
		Message: fmt.Sprintf("permission denied: %s may not call %s on %s; %s", describe(c), what, p.nodeName, d.Hint),
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
func (p *Policy) hint(c rpc.Caller, method, key string) string {
	if key != "" {
		method += "@" + key // a rule for exactly this key
	}
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
	grant := fmt.Sprintf("grant the tailnet app capability %s %s", p.capName, grantJSON(method))
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
	if key != "" {
		// A rule for one key is rarely what is wanted: say what the whole
		// family of procedures on every key looks like too.
		family, _, _ := strings.Cut(method, ".")
		allow += fmt.Sprintf("; for every key and %s procedure: --allow '%s=%s.*'", family, principals[0], family)
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

// grantJSON is the grant value that allows method ("kv.get@a/*" scoped).
func grantJSON(method string) string {
	m, k, scoped := strings.Cut(method, "@")
	if scoped {
		return fmt.Sprintf(`{"methods":[%q],"keys":[%q]}`, m, k)
	}
	return fmt.Sprintf(`{"methods":[%q]}`, m)
}
