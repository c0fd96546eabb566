package rpc

import (
	"context"
	"fmt"
	"reflect"
)

// eachKeyCall is a bound call whose params name several keys (EachKey).
type eachKeyCall interface {
	keyCount() int
	keyAt(i int) string
	setKeyAt(i int, key string)
}

func (c *typedCall[P, R]) keys() reflect.Value {
	return reflect.ValueOf(&c.params).Elem().Field(c.keyField)
}

func (c *typedCall[P, R]) keyCount() int { return c.keys().Len() }

func (c *typedCall[P, R]) keyAt(i int) string { return c.keys().Index(i).Field(c.elemKey).String() }

func (c *typedCall[P, R]) setKeyAt(i int, key string) {
	c.keys().Index(i).Field(c.elemKey).SetString(key)
}

// admitEach authorizes each key a call of an EachKey procedure names, as
// a call of the method on that key alone would be (the same Authorize, so
// the same checks and the same personal-space rewriting), and hands each
// back as granted. One key denied denies the call. rec keeps the first key
// and the count, or the key refused.
func (s *Server) admitEach(ctx context.Context, caller Caller, access Access, bound eachKeyCall, rec *callRecord) *Error {
	n := bound.keyCount()
	if n > MaxCallKeys {
		return &Error{Code: CodeInvalidParams, Message: fmt.Sprintf("invalid params for %s: %d keys, the limit is %d; send them in several calls", access.Method, n, MaxCallKeys)}
	}
	access.Keys, access.KeyKnown = OneKey, true
	for i := range n {
		access.Key = bound.keyAt(i)
		grant, err := s.authorize(ctx, caller, access)
		if err != nil {
			if err.Code == CodePermissionDenied && len(access.Key) <= maxRecordedKey {
				rec.key = access.Key
			}
			return err
		}
		bound.setKeyAt(i, grant.Key)
	}
	switch {
	case n == 1:
		rec.key = bound.keyAt(0)
	case n > 1:
		rec.key = fmt.Sprintf("%s (and %d more keys)", bound.keyAt(0), n-1)
	}
	if n > 0 {
		rec.under = bound.keyAt(0)
		for i := 1; i < n && rec.under != ""; i++ {
			rec.under = commonPrefix(rec.under, bound.keyAt(i))
		}
	}
	return nil
}

func commonPrefix(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[:i]
}
