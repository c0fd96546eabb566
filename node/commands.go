package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/meshrpc/meshrpc/node/command"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

// Reconfigure replaces the node's local rules (--allow) and its command
// procedures, as `meshrpc serve` does on SIGHUP. Calls already running
// finish as they started, and none is refused for the reload: the registry
// changes in one step, then the rules. On error nothing changes.
func (n *Node) Reconfigure(allow []string, commands []command.Spec) error {
	procs := make([]*rpc.Procedure, 0, len(commands))
	for _, spec := range commands {
		p, err := command.Procedure(spec)
		if err != nil {
			return fmt.Errorf("procedure %q: %w", spec.Name, err)
		}
		procs = append(procs, p)
	}
	rules, err := parseRules(allow, commands)
	if err != nil {
		return err
	}
	self := n.mesh.Self()
	policy := authz.New(authz.Config{Rules: rules, SelfLogin: self.User, NodeName: self.Name})

	n.configMu.Lock()
	defer n.configMu.Unlock()
	if err := n.reg.Swap(n.commands, procs); err != nil {
		return err
	}
	n.policy.Store(policy)
	n.commands = n.commands[:0]
	for _, p := range procs {
		n.commands = append(n.commands, p.Name)
	}
	n.warnIdleScopes(rules)
	return nil
}

// warnIdleScopes warns of key-scoped rules that can allow nothing: a key
// scope applies only to procedures that take a key (kv.*), so
// "tag:phone=sys.*@shared/*" allows no call at all.
func (n *Node) warnIdleScopes(rules []authz.Rule) {
	var keyed []string
	for _, p := range n.reg.Procedures() {
		if p.Keys != rpc.NoKey {
			keyed = append(keyed, p.Name)
		}
	}
	for _, g := range authz.IdleScopes(rules, keyed) {
		fmt.Fprintf(n.progress(), "meshrpc: warning: rule %s allows nothing: a key scope (@...) applies only to procedures that take a key (%s)\n",
			g, strings.Join(keyed, ", "))
	}
}

// parseRules turns --allow rules, and the principals each command allows,
// into one rule list. No --allow rules means "self" for every method, as
// before commands added their own.
func parseRules(allow []string, commands []command.Spec) ([]authz.Rule, error) {
	var rules []authz.Rule
	for _, a := range allow {
		r, err := authz.ParseRule(a)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		rules = append(rules, authz.Rule{Principal: "self"})
	}
	for _, c := range commands {
		for _, principal := range c.Allow {
			r, err := authz.ParseRule(principal)
			if err != nil || len(r.Methods) > 0 {
				return nil, errors.Join(fmt.Errorf("procedure %q: allow %q: give a principal only", c.Name, principal), err)
			}
			r.Methods = []string{c.Name}
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// progress is where the node tells its operator what it does: Config.Progress,
// by default the standard error.
func (n *Node) progress() io.Writer {
	if n.cfg.Progress != nil {
		return n.cfg.Progress
	}
	return os.Stderr
}
