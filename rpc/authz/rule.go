package authz

import (
	"fmt"
	"strings"
)

// Rule allows a principal to call the methods matching any of its globs.
//
// Principals: "self" (the node's own user, untagged devices), "*" (anyone on
// the tailnet), "user:LOGIN", "tag:NAME", "node:NAME" (MagicDNS short or
// full name).
type Rule struct {
	Principal string
	// Methods are globs; empty means all methods. A glob may carry
	// @KEYGLOB ("kv.get@shared/*"): then it allows the method only on the
	// store's keys that match KEYGLOB.
	Methods []string
}

const ruleSyntax = "want PRINCIPAL[=METHOD_GLOB[@KEY_GLOB],...] with PRINCIPAL one of self, *, user:LOGIN, tag:NAME, node:NAME, e.g. --allow 'tag:laptop=kv.*,sys.*' or --allow 'tag:phone=kv.get@shared/*'"

// ParseRule parses the --allow syntax PRINCIPAL[=GLOB,...].
func ParseRule(s string) (Rule, error) {
	principal, globs, hasGlobs := strings.Cut(strings.TrimSpace(s), "=")
	principal = strings.TrimSpace(principal)
	if err := checkPrincipal(principal); err != nil {
		return Rule{}, fmt.Errorf("rule %q: %v; %s", s, err, ruleSyntax)
	}
	r := Rule{Principal: principal}
	if !hasGlobs {
		return r, nil
	}
	for _, g := range strings.Split(globs, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			return Rule{}, fmt.Errorf("rule %q: empty method glob; %s", s, ruleSyntax)
		}
		method, keys, scoped := strings.Cut(g, "@")
		if method == "" || strings.ContainsAny(method, " \t\"'[]{}?\\") {
			return Rule{}, fmt.Errorf("rule %q: method glob %q may hold only names and *; %s", s, method, ruleSyntax)
		}
		if scoped && (keys == "" || strings.ContainsAny(keys, " \t\"'")) {
			return Rule{}, fmt.Errorf("rule %q: key glob %q after @ must be a key pattern such as shared/*; %s", s, keys, ruleSyntax)
		}
		r.Methods = append(r.Methods, g)
	}
	return r, nil
}

func checkPrincipal(p string) error {
	switch p {
	case "":
		return fmt.Errorf("no principal")
	case "self", "*":
		return nil
	}
	kind, name, ok := strings.Cut(p, ":")
	switch {
	case !ok:
		return fmt.Errorf("unknown principal %q", p)
	case kind != "user" && kind != "tag" && kind != "node":
		return fmt.Errorf("unknown principal kind %q", kind+":")
	case name == "" || strings.ContainsAny(name, " \t,="):
		return fmt.Errorf("principal %q needs a name after %s:", p, kind)
	}
	return nil
}

// String is the rule in --allow syntax.
func (r Rule) String() string {
	if len(r.Methods) == 0 {
		return r.Principal
	}
	return r.Principal + "=" + strings.Join(r.Methods, ",")
}

// scope says whether the rule allows method, and where: on every key
// (keys nil) or only on keys matching one of keys.
func (r Rule) scope(method string) (allowed bool, keys []string) {
	if len(r.Methods) == 0 {
		return true, nil
	}
	for _, g := range r.Methods {
		m, k, scoped := strings.Cut(g, "@")
		if !Glob(m, method) {
			continue
		}
		if !scoped {
			return true, nil
		}
		allowed, keys = true, append(keys, k)
	}
	return allowed, keys
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if Glob(g, s) {
			return true
		}
	}
	return false
}

// Glob reports whether s matches pattern, where * matches any run of
// characters, dots included ("kv.*" matches "kv.get"; "*" matches all).
func Glob(pattern, s string) bool {
	// Iterative matcher with backtracking to the last star: linear enough
	// for method names, and no recursion for adversarial patterns.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// IdleScopes returns the key-scoped globs of rules ("sys.*@shared/*") whose
// method glob matches none of keyed, the names of the procedures that take
// a key: a key scope applies only to those, so such a glob allows nothing.
func IdleScopes(rules []Rule, keyed []string) []string {
	var idle []string
	for _, r := range rules {
		for _, g := range r.Methods {
			m, _, scoped := strings.Cut(g, "@")
			if scoped && !anyMatch(m, keyed) {
				idle = append(idle, r.Principal+"="+g)
			}
		}
	}
	return idle
}

func anyMatch(glob string, names []string) bool {
	for _, n := range names {
		if Glob(glob, n) {
			return true
		}
	}
	return false
}
