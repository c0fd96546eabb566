package authz_test

import (
	"fmt"

	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

// Rules as --allow gives them; the policy says why a call is allowed, and
// what would allow a denied one.
func ExamplePolicy_Explain() {
	var rules []authz.Rule
	for _, s := range []string{"self", "tag:phone=kv.get@shared/*,sys.*"} {
		r, err := authz.ParseRule(s)
		if err != nil {
			panic(err)
		}
		rules = append(rules, r)
	}
	p := authz.New(authz.Config{Rules: rules, SelfLogin: "alice@example.com", NodeName: "home"})
	phone := rpc.Caller{Node: "phone", Login: "tagged-devices", Tags: []string{"tag:phone"}}

	fmt.Println(p.Explain(phone, "sys.uname").By)
	fmt.Println(p.ExplainKey(phone, "kv.get", "shared/motd").Allowed)
	fmt.Println(p.ExplainKey(phone, "kv.get", "private/diary").Allowed)
	fmt.Println(p.Explain(phone, "kv.put").Hint)
	// Output:
	// rule tag:phone=kv.get@shared/*,sys.*
	// true
	// false
	// to allow it, run meshrpc serve on home with --allow 'tag:phone=kv.put' (or --allow 'node:phone=kv.put'), or grant the tailnet app capability github.com/meshrpc/meshrpc/cap/rpc {"methods":["kv.put"]}
}
