package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
)

const me = "alice@example.com"

var (
	laptop   = rpc.Caller{Node: "laptop", NodeFQDN: "laptop.tail.ts.net", Login: me}
	stranger = rpc.Caller{Node: "bobs-pc", NodeFQDN: "bobs-pc.tail.ts.net", Login: "bob@example.com"}
	tagged   = rpc.Caller{Node: "phone", NodeFQDN: "phone.tail.ts.net", Login: "tagged-devices", Tags: []string{"tag:phone"}}
	taggedMe = rpc.Caller{Node: "nas", Login: me, Tags: []string{"tag:server"}}
	nobody   = rpc.Caller{}
)

func grant(methods ...string) map[string][]json.RawMessage {
	b, _ := json.Marshal(authz.Grant{Methods: methods})
	return map[string][]json.RawMessage{authz.CapName: {b}}
}

func with(c rpc.Caller, caps map[string][]json.RawMessage) rpc.Caller {
	c.Caps = caps
	return c
}

// mustRules parses --allow rules that the test knows to be good.
func mustRules(t *testing.T, ss ...string) []authz.Rule {
	t.Helper()
	var rs []authz.Rule
	for _, s := range ss {
		r, err := authz.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestMatrix(t *testing.T) {
	rules := func(ss ...string) []authz.Rule { return mustRules(t, ss...) }
	for _, tc := range []struct {
		name   string
		rules  []authz.Rule
		caller rpc.Caller
		method string
		want   bool
	}{
		{"default: self allowed", nil, laptop, "kv.put", true},
		{"default: other user denied", nil, stranger, "sys.ping", false},
		{"default: tagged device with my login is not self", nil, taggedMe, "sys.ping", false},
		{"default: unidentified denied", nil, nobody, "sys.ping", false},
		{"rules replace the default", rules("tag:phone"), laptop, "sys.ping", false},
		{"self kept explicitly", rules("self", "tag:phone=kv.get"), laptop, "kv.put", true},
		{"tag rule, matching method", rules("tag:phone=kv.get,sys.*"), tagged, "sys.uname", true},
		{"tag rule, other method", rules("tag:phone=kv.get,sys.*"), tagged, "kv.put", false},
		{"tag rule, untagged caller", rules("tag:phone"), stranger, "sys.ping", false},
		{"user rule", rules("user:bob@example.com=sys.*"), stranger, "sys.ping", true},
		{"user rule is exact", rules("user:bob@example"), stranger, "sys.ping", false},
		{"node short name", rules("node:bobs-pc"), stranger, "kv.put", true},
		{"node full name", rules("node:bobs-pc.tail.ts.net."), stranger, "kv.put", true},
		{"node name case", rules("node:BOBS-PC"), stranger, "kv.put", true},
		{"node other", rules("node:laptop"), stranger, "kv.put", false},
		{"star allows anyone", rules("*=sys.ping"), nobody, "sys.ping", true},
		{"star, other method", rules("*=sys.ping"), stranger, "kv.put", false},
		{"grant allows", nil, with(stranger, grant("kv.*")), "kv.get", true},
		{"grant for other methods", nil, with(stranger, grant("sys.*")), "kv.get", false},
		{"malformed grant grants nothing", nil, with(stranger, map[string][]json.RawMessage{authz.CapName: {json.RawMessage(`"kv.*"`), json.RawMessage(`{"methods":"kv.*"}`)}}), "kv.get", false},
		{"grant of another capability", nil, with(stranger, map[string][]json.RawMessage{"example.com/cap/other": {json.RawMessage(`{"methods":["*"]}`)}}), "kv.get", false},
		{"rule or grant: grant", rules("tag:phone=sys.*"), with(tagged, grant("kv.get")), "kv.get", true},
		{"rule or grant: rule", rules("tag:phone=sys.*"), with(tagged, grant("kv.get")), "sys.ping", true},
		{"rule or grant: neither", rules("tag:phone=sys.*"), with(tagged, grant("kv.get")), "kv.put", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := authz.New(authz.Config{Rules: tc.rules, SelfLogin: me, NodeName: "home"})
			d := p.Decide(tc.caller, rpc.Access{Method: tc.method})
			_, err := p.Authorize(context.Background(), tc.caller, rpc.Access{Method: tc.method})
			if d.Allowed != tc.want || (err == nil) != tc.want {
				t.Fatalf("Explain = %+v, Authorize = %v; want allowed=%v", d, err, tc.want)
			}
			if tc.want && d.By == "" {
				t.Error("allowed without saying by what")
			}
			if !tc.want && rpc.CodeOf(err) != rpc.CodePermissionDenied {
				t.Errorf("denial code %d, want %d", rpc.CodeOf(err), rpc.CodePermissionDenied)
			}
		})
	}
}

// authorize asks p about a call to method, a procedure without keys.
func authorize(p *authz.Policy, c rpc.Caller, method string) error {
	_, err := p.Authorize(context.Background(), c, rpc.Access{Method: method})
	return err
}

// A key-scoped rule or grant allows only procedures that declare keys, and
// only on the keys it names: the phone with kv.*@shared/* may not call
// sys.stats, sys.peers, or an exposed command.
func TestKeyScopeAllowsOnlyProceduresWithKeys(t *testing.T) {
	scopedGrant := with(tagged, map[string][]json.RawMessage{authz.CapName: {json.RawMessage(`{"methods":["*"],"keys":["shared/*"]}`)}})
	scopedRule := mustRules(t, "self", "tag:phone=*@shared/*")
	for _, tc := range []struct {
		name   string
		rules  []authz.Rule
		caller rpc.Caller
		access rpc.Access
		want   bool
	}{
		{"rule, method without keys", scopedRule, tagged, rpc.Access{Method: "sys.stats"}, false},
		{"rule, exposed command", scopedRule, tagged, rpc.Access{Method: "backup"}, false},
		{"rule, rpc.discover", scopedRule, tagged, rpc.Access{Method: "rpc.discover"}, false},
		{"rule, rpc.allowed is for everyone", scopedRule, tagged, rpc.Access{Method: authz.AllowedMethod}, true},
		{"rule, key method before its key", scopedRule, tagged, rpc.Access{Method: "kv.get", Keys: rpc.OneKey}, true},
		{"rule, key in scope", scopedRule, tagged, rpc.Access{Method: "kv.get", Keys: rpc.OneKey, Key: "shared/a", KeyKnown: true}, true},
		{"rule, key out of scope", scopedRule, tagged, rpc.Access{Method: "kv.get", Keys: rpc.OneKey, Key: "private/a", KeyKnown: true}, false},
		{"rule, prefix in scope", scopedRule, tagged, rpc.Access{Method: "kv.list", Keys: rpc.KeyPrefix, Key: "shared/", KeyKnown: true}, true},
		{"rule, prefix wider than scope", scopedRule, tagged, rpc.Access{Method: "kv.list", Keys: rpc.KeyPrefix, Key: "", KeyKnown: true}, false},
		{"grant, method without keys", nil, scopedGrant, rpc.Access{Method: "sys.peers"}, false},
		{"grant, key method before its key", nil, scopedGrant, rpc.Access{Method: "kv.put", Keys: rpc.OneKey}, true},
		{"grant, key in scope", nil, scopedGrant, rpc.Access{Method: "kv.put", Keys: rpc.OneKey, Key: "shared/x", KeyKnown: true}, true},
		{"grant, key out of scope", nil, scopedGrant, rpc.Access{Method: "kv.put", Keys: rpc.OneKey, Key: "x", KeyKnown: true}, false},
		{"no rule: a person's key method before its key (personal space)", scopedRule, stranger, rpc.Access{Method: "kv.put", Keys: rpc.OneKey}, true},
		{"no rule: a person's own key", scopedRule, stranger, rpc.Access{Method: "kv.put", Keys: rpc.OneKey, Key: "~/x", KeyKnown: true}, true},
		{"no rule: a person's shared key", scopedRule, stranger, rpc.Access{Method: "kv.put", Keys: rpc.OneKey, Key: "shared/x", KeyKnown: true}, false},
		{"no rule: a tagged device's key method", mustRules(t, "self"), tagged, rpc.Access{Method: "kv.put", Keys: rpc.OneKey}, false},
		{"no rule: a tagged device's ~/ key", mustRules(t, "self"), tagged, rpc.Access{Method: "kv.put", Keys: rpc.OneKey, Key: "~/x", KeyKnown: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := authz.New(authz.Config{Rules: tc.rules, SelfLogin: me, NodeName: "home"})
			_, err := p.Authorize(context.Background(), tc.caller, tc.access)
			if (err == nil) != tc.want {
				t.Fatalf("Authorize(%+v) = %v; want allowed=%v", tc.access, err, tc.want)
			}
			if !tc.access.KeyKnown && p.Decide(tc.caller, tc.access).Allowed != tc.want {
				t.Errorf("Decide disagrees with Authorize")
			}
			if !tc.want && rpc.CodeOf(err) != rpc.CodePermissionDenied {
				t.Errorf("denial code %d, want %d", rpc.CodeOf(err), rpc.CodePermissionDenied)
			}
		})
	}
}

func TestGrantOfAPrefixShowsOnlyWhatTheCallerMaySee(t *testing.T) {
	p := authz.New(authz.Config{Rules: mustRules(t, "*=kv.list"), SelfLogin: me, NodeName: "home"})
	g, err := p.Authorize(context.Background(), stranger, rpc.Access{Method: "kv.list", Keys: rpc.KeyPrefix, Key: "~/", KeyKnown: true})
	if err != nil || g.Key != "~bob@example.com/" {
		t.Fatalf("grant of ~/ = %+v, %v; want the key ~bob@example.com/", g, err)
	}
	g, err = p.Authorize(context.Background(), stranger, rpc.Access{Method: "kv.list", Keys: rpc.KeyPrefix, Key: "", KeyKnown: true})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"shared/a": true, "~bob@example.com/a": true, "~alice@example.com/a": false} {
		if g.Shows(key) != want {
			t.Errorf("Shows(%q) = %v, want %v", key, !want, want)
		}
	}
}

func TestDenialSaysWhoWhatWhereAndHow(t *testing.T) {
	p := authz.New(authz.Config{SelfLogin: me, NodeName: "home"})
	msg := authorize(p, stranger, "kv.put").Error()
	for _, want := range []string{"permission denied", "bobs-pc", "bob@example.com", "kv.put", "on home", "--allow 'node:bobs-pc=kv.put'", authz.CapName} {
		if !strings.Contains(msg, want) {
			t.Errorf("denial %q lacks %q", msg, want)
		}
	}
	msg = authorize(p, tagged, "kv.put").Error()
	if !strings.Contains(msg, "--allow 'tag:phone=kv.put'") {
		t.Errorf("denial of a tagged caller %q does not suggest its tag", msg)
	}
}

func TestDenialMessageMatchesTheDocumentedExample(t *testing.T) {
	p := authz.New(authz.Config{SelfLogin: "me@example.com", NodeName: "home"})
	err := authorize(p, laptop, "kv.put")
	want := `permission denied: laptop (alice@example.com) may not call kv.put on home; to allow it, run meshrpc serve on home with --allow 'node:laptop=kv.put' (or --allow 'user:alice@example.com=kv.put'), or grant the tailnet app capability github.com/meshrpc/meshrpc/cap/rpc {"methods":["kv.put"]}`
	var e *rpc.Error
	if !errors.As(err, &e) || e.Message != want {
		t.Fatalf("denial = %v\nwant message %s", err, want)
	}
}

func TestDenialOfUnidentifiedCallerSuggestsStar(t *testing.T) {
	p := authz.New(authz.Config{SelfLogin: me, NodeName: "home"})
	msg := authorize(p, rpc.Caller{Addr: "100.64.0.9:1234"}, "sys.ping").Error()
	for _, want := range []string{"permission denied", "100.64.0.9", "sys.ping", "on home", "--allow '*=sys.ping'"} {
		if !strings.Contains(msg, want) {
			t.Errorf("denial %q lacks %q", msg, want)
		}
	}
}

func TestExplainSaysWhichRuleOrGrant(t *testing.T) {
	p := authz.New(authz.Config{Rules: []authz.Rule{{Principal: "tag:phone", Methods: []string{"sys.*"}}}, SelfLogin: me})
	if d := p.Explain(tagged, "sys.ping"); d.By != "rule tag:phone=sys.*" {
		t.Errorf("By = %q, want the rule", d.By)
	}
	if d := p.Explain(with(tagged, grant("kv.*")), "kv.get"); d.By != `grant `+authz.CapName+` {"methods":["kv.*"]}` {
		t.Errorf("By = %q, want the grant", d.By)
	}
	if d := authz.New(authz.Config{SelfLogin: me}).Explain(laptop, "kv.get"); d.By != "rule self" {
		t.Errorf("By = %q, want the default rule self", d.By)
	}
}

func TestPolicyIsNotChangedThroughItsRules(t *testing.T) {
	given := []authz.Rule{{Principal: "tag:phone", Methods: []string{"sys.ping"}}}
	p := authz.New(authz.Config{Rules: given})
	given[0].Methods[0] = "*"
	p.Rules()[0].Methods[0] = "*"
	if p.Explain(tagged, "kv.put").Allowed {
		t.Fatal("changing the caller's slices widened the policy")
	}
	if got := p.Rules(); !reflect.DeepEqual(got, []authz.Rule{{Principal: "tag:phone", Methods: []string{"sys.ping"}}}) {
		t.Errorf("Rules() = %v", got)
	}
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"self", "self"},
		{"*", "*"},
		{"tag:laptop=kv.*,sys.*", "tag:laptop=kv.*,sys.*"},
		{" user:alice@example.com = kv.get , kv.list ", "user:alice@example.com=kv.get,kv.list"},
		{"node:home.tail.ts.net=*", "node:home.tail.ts.net=*"},
	} {
		r, err := authz.ParseRule(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseRule(%q) = %q, %v; want %q", tc.in, r, err, tc.want)
		}
	}
	for _, bad := range []string{"", "=kv.*", "laptop", "group:x", "user:", "tag:", "tag:a=", "tag:a=kv.get,,x", "tag:a=kv get", "self=kv.[a]"} {
		if _, err := authz.ParseRule(bad); err == nil || !strings.Contains(err.Error(), "--allow 'tag:laptop=kv.*,sys.*'") {
			t.Errorf("ParseRule(%q): err = %v; want an error showing the syntax", bad, err)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "kv.get", true},
		{"kv.*", "kv.get", true},
		{"kv.*", "kv.", true},
		{"kv.*", "kvx", false},
		{"kv.*", "sys.kv.get", false},
		{"*.get", "kv.get", true},
		{"k*.g*t", "kv.get", true},
		{"kv.get", "kv.get", true},
		{"kv.get", "kv.gets", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"", "", true},
		{"", "x", false},
	} {
		if got := authz.Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"self", "*", "tag:laptop=kv.*,sys.*", "user:a@b=x", "node:n=*", "=", "tag:=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := authz.ParseRule(s)
		if err != nil {
			return
		}
		again, err := authz.ParseRule(r.String())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("rule %q does not round-trip: %q, %v", r, again, err)
		}
		p := authz.New(authz.Config{Rules: []authz.Rule{r}, SelfLogin: me})
		p.Explain(laptop, "kv.get")
		p.Explain(rpc.Caller{}, r.String())
	})
}

// The authorization matrix with keys: scoped rules and grants, personal
// spaces, prefixes.
func TestKeyMatrix(t *testing.T) {
	parse := func(ss ...string) []authz.Rule { return mustRules(t, ss...) }
	alice := rpc.Caller{Node: "laptop", Login: "alice@example.com"}
	bob := rpc.Caller{Node: "phone", Login: "bob@example.com"}
	tagged := rpc.Caller{Node: "sensor", Login: "tagged-devices", Tags: []string{"tag:sensor"}}
	bobGrant := bob
	bobGrant.Caps = map[string][]json.RawMessage{authz.CapName: {json.RawMessage(`{"methods":["kv.get","kv.list"],"keys":["shared/*"]}`)}}
	p := authz.New(authz.Config{SelfLogin: "alice@example.com", NodeName: "home", Rules: parse(
		"self",
		"node:phone=kv.get@shared/*,kv.put@shared/inbox/*,kv.list@shared/*",
		"tag:sensor=kv.inc@sensors/*,kv.get@~alice@example.com/sensor-*",
	)})
	for _, tc := range []struct {
		name   string
		caller rpc.Caller
		method string
		key    string
		prefix bool
		want   bool
	}{
		{"owner, any key", alice, "kv.put", "anything", false, true},
		{"owner, own personal key", alice, "kv.put", "~alice@example.com/notes", false, true},
		{"owner, another's personal key: not by the unscoped self rule", alice, "kv.get", "~bob@example.com/notes", false, false},
		{"bob, his personal key with no rule for it", bob, "kv.put", "~bob@example.com/notes", false, true},
		{"bob, alice's personal key", bob, "kv.get", "~alice@example.com/notes", false, false},
		{"bob, scoped get inside", bob, "kv.get", "shared/motd", false, true},
		{"bob, scoped get outside", bob, "kv.get", "private/motd", false, false},
		{"bob, scoped put inside the narrower glob", bob, "kv.put", "shared/inbox/1", false, true},
		{"bob, scoped put outside it", bob, "kv.put", "shared/motd", false, false},
		{"bob, method without any rule", bob, "kv.delete", "shared/motd", false, false},
		{"bob, list a covered prefix", bob, "kv.list", "shared/", true, true},
		{"bob, list a deeper covered prefix", bob, "kv.list", "shared/a", true, true},
		{"bob, list everything", bob, "kv.list", "", true, false},
		{"bob, list a prefix the glob does not cover", bob, "kv.list", "sh", true, false},
		{"owner, list everything", alice, "kv.list", "", true, true},
		{"sensor, inc in its corner", tagged, "kv.inc", "sensors/t1", false, true},
		{"sensor, a rule naming alice's personal keys", tagged, "kv.get", "~alice@example.com/sensor-1", false, true},
		{"sensor, alice's other personal keys", tagged, "kv.get", "~alice@example.com/diary", false, false},
		{"grant scoped to shared/", bobGrant, "kv.list", "shared/x", true, true},
		{"grant scoped to shared/, a key outside", bobGrant, "kv.get", "other/x", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d authz.Decision
			if tc.prefix {
				d = p.ExplainPrefix(tc.caller, tc.method, tc.key)
			} else {
				d = p.ExplainKey(tc.caller, tc.method, tc.key)
			}
			if d.Allowed != tc.want {
				t.Fatalf("got %+v; want allowed=%v", d, tc.want)
			}
			if !d.Allowed && d.Hint == "" {
				t.Fatalf("a denial without a hint: %+v", d)
			}
		})
	}
	if !p.FilterKey(alice, "kv.list", "~alice@example.com/a") || p.FilterKey(alice, "kv.list", "~bob@example.com/a") || !p.FilterKey(alice, "kv.list", "plain") {
		t.Error("FilterKey")
	}
}

func TestPersonalKey(t *testing.T) {
	alice := rpc.Caller{Node: "laptop", Login: "alice@example.com"}
	if k, err := authz.PersonalKey(alice, "~/notes/1"); err != nil || k != "~alice@example.com/notes/1" {
		t.Fatalf("%q %v", k, err)
	}
	if k, err := authz.PersonalKey(alice, "shared/x"); err != nil || k != "shared/x" {
		t.Fatalf("%q %v", k, err)
	}
	tagged := rpc.Caller{Node: "sensor", Login: "tagged-devices", Tags: []string{"tag:sensor"}}
	if _, err := authz.PersonalKey(tagged, "~/x"); rpc.CodeOf(err) != rpc.CodePermissionDenied {
		t.Fatalf("tagged device: %v", err)
	}
}

// A denial of a keyed call suggests the rule for that key and the one for
// the whole family, which is what a person usually wants.
func TestDenialOfAKeyedCallSuggestsTheFamilyToo(t *testing.T) {
	p := authz.New(authz.Config{SelfLogin: "me@example.com", NodeName: "home"})
	_, err := p.Authorize(context.Background(), laptop, rpc.Access{Method: "kv.put", Keys: rpc.OneKey, Key: "greeting", KeyKnown: true})
	if err == nil || !strings.Contains(err.Error(), "--allow 'node:laptop=kv.put@greeting'") || !strings.Contains(err.Error(), "for every key and kv procedure: --allow 'node:laptop=kv.*'") {
		t.Fatalf("denial: %v", err)
	}
}
