package rpc

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// KeyUse says what a procedure's key parameter names. Authorization reads
// it: a rule or grant scoped to keys ("kv.get@shared/*") allows only
// procedures that declare keys, and only on the keys its globs match.
type KeyUse uint8

const (
	NoKey     KeyUse = iota // the procedure names no key
	OneKey                  // one key, as kv.get and kv.put do
	KeyPrefix               // every key under a prefix, as kv.list and kv.watch do
	// EachKey: several keys, up to MaxCallKeys, as kv.put_all names them;
	// each is authorized as a OneKey call of the method on it would be.
	EachKey
)

// MaxCallKeys bounds the keys one call of an EachKey procedure may name:
// the server authorizes every one before the procedure runs.
const MaxCallKeys = 1000

func (k KeyUse) String() string {
	switch k {
	case OneKey:
		return "key"
	case KeyPrefix:
		return "prefix"
	case EachKey:
		return "keys"
	}
	return "none"
}

// Access is one call as authorization sees it: who calls which method, and
// on which key when the procedure declares one.
//
// The server decides every call in one place, before its handler runs, and
// asks Config.Authorize once or twice: first before the params are read
// (KeyKnown false: may the caller call Method at all, on some key for a
// procedure that declares keys?), then, for a procedure that declares keys,
// with the key its params name. So a caller that may not call a method
// learns nothing about its params, and every key is checked before it is
// used or quoted.
type Access struct {
	Method   string
	Keys     KeyUse
	Key      string // the key or prefix as the caller sent it
	KeyKnown bool   // Key holds the params' key
}

// Grant is what authorization allows a call that names a key: the key as
// the procedure is to use it (a person's "~/x" may be stored as
// "~LOGIN/x"), and for a prefix which of the keys found under it the caller
// may see. A handler reads it with GrantFrom and never authorizes itself.
type Grant struct {
	Key  string
	Show func(key string) bool // nil shows every key
}

// Shows reports whether the caller may see key, found under the granted
// prefix.
func (g Grant) Shows(key string) bool { return g.Show == nil || g.Show(key) }

type grantKey struct{}

// GrantFrom returns the grant of the call ctx belongs to. Outside a call,
// or for a procedure that declares no key, it is the zero Grant.
func GrantFrom(ctx context.Context) Grant {
	g, _ := ctx.Value(grantKey{}).(Grant)
	return g
}

// MaxMethodBytes bounds a method name. Names are checked before anything
// else reads them, so only bounded, plain names reach replies and logs.
const MaxMethodBytes = 256

// methodNameRE is the shape of every method name: dot-separated words of
// letters, digits, '_' and '-', beginning with a letter ("kv.get",
// "backup-home"). Registries refuse other names and servers refuse calls
// to them.
var methodNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)

// CheckMethodName returns an error when name cannot be a method's name.
func CheckMethodName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty method name")
	case len(name) > MaxMethodBytes:
		return fmt.Errorf("method name of %d bytes, the limit is %d", len(name), MaxMethodBytes)
	case !methodNameRE.MatchString(name):
		return fmt.Errorf("method name %s: names are dot-separated words of letters, digits, '_' and '-', beginning with a letter", Quote(name, 64))
	}
	return nil
}

// Quote quotes s for a message, cut to at most max bytes of s: text a
// caller chose never reaches a reply or a log unbounded or with control
// characters.
func Quote(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 { // not inside a rune
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("... (%d bytes)", len(s))
}
