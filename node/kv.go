package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/rpc/authz"
	"github.com/meshrpc/meshrpc/store"
)

// kvMethods are the store's procedures, which authorize per key.
var kvMethods = map[string]bool{
	"kv.get": true, "kv.put": true, "kv.delete": true, "kv.list": true,
	"kv.inc": true, "kv.cas": true, "kv.watch": true,
}

// maxWatchWait caps how long one kv.watch call may wait for a change.
const maxWatchWait = 60 * time.Second

type keyParams struct {
	Key string `json:"key"`
}

type putParams struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

type listParams struct {
	Prefix string `json:"prefix,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

type incParams struct {
	Key   string `json:"key"`
	Delta *int64 `json:"delta,omitempty"`
}

type casParams struct {
	Key   string          `json:"key"`
	Rev   int64           `json:"rev"`
	Value json.RawMessage `json:"value"`
}

type watchParams struct {
	Prefix   string  `json:"prefix,omitempty"`
	AfterRev int64   `json:"after_rev,omitempty"`
	Wait     float64 `json:"wait,omitempty"` // seconds; default 30, at most 60
}

// RevResult is the revision a write got.
type RevResult struct {
	Rev int64 `json:"rev"`
}

// DeleteResult says whether kv.delete removed something.
type DeleteResult struct {
	Rev     int64 `json:"rev"`
	Existed bool  `json:"existed"`
}

// WatchResult holds the changes kv.watch saw and the revision to continue
// after.
type WatchResult struct {
	Events []store.Event `json:"events"`
	Rev    int64         `json:"rev"`
}

func registerKV(r *rpc.Registry, n *Node) {
	s := n.store
	rpc.Register(r, "kv.get", "The value at key, or null when absent.", func(ctx context.Context, p keyParams) (json.RawMessage, error) {
		key, err := n.key(ctx, "kv.get", p.Key)
		if err != nil {
			return nil, err
		}
		e, ok, err := s.Get(key)
		if err != nil || !ok {
			return json.RawMessage("null"), kvError(err)
		}
		return e.Value, nil
	}).ReadOnly = true
	rpc.Register(r, "kv.put", "Sets key to value (any JSON), durably.", func(ctx context.Context, p putParams) (RevResult, error) {
		key, err := n.key(ctx, "kv.put", p.Key)
		if err != nil {
			return RevResult{}, err
		}
		rev, err := s.For(rpc.RequestKeyFrom(ctx)).Put(key, p.Value)
		return RevResult{rev}, kvError(err)
	})
	rpc.Register(r, "kv.delete", "Deletes key.", func(ctx context.Context, p keyParams) (DeleteResult, error) {
		key, err := n.key(ctx, "kv.delete", p.Key)
		if err != nil {
			return DeleteResult{}, err
		}
		rev, existed, err := s.For(rpc.RequestKeyFrom(ctx)).Delete(key)
		return DeleteResult{rev, existed}, kvError(err)
	})
	rpc.Register(r, "kv.list", "Entries (key, value, rev) whose keys begin with prefix, in key order.", func(ctx context.Context, p listParams) ([]store.Entry, error) {
		prefix, show, err := n.prefix(ctx, "kv.list", p.Prefix)
		if err != nil {
			return nil, err
		}
		entries, err := listVisible(s, prefix, p.Limit, show)
		return entries, kvError(err)
	}).ReadOnly = true
	rpc.Register(r, "kv.inc", "Adds delta (default 1) to the integer at key, atomically; returns the new value.", func(ctx context.Context, p incParams) (int64, error) {
		delta := int64(1)
		if p.Delta != nil {
			delta = *p.Delta
		}
		key, err := n.key(ctx, "kv.inc", p.Key)
		if err != nil {
			return 0, err
		}
		v, _, err := s.For(rpc.RequestKeyFrom(ctx)).Inc(key, delta)
		return v, kvError(err)
	})
	rpc.Register(r, "kv.cas", "Sets key to value only if its revision is rev (0: only if absent).", func(ctx context.Context, p casParams) (RevResult, error) {
		key, err := n.key(ctx, "kv.cas", p.Key)
		if err != nil {
			return RevResult{}, err
		}
		rev, err := s.For(rpc.RequestKeyFrom(ctx)).CAS(key, p.Rev, p.Value)
		return RevResult{rev}, kvError(err)
	})
	rpc.Register(r, "kv.watch", "Changes under prefix after after_rev (-1: from now); waits up to wait seconds (max 60) for one.", func(ctx context.Context, p watchParams) (WatchResult, error) {
		prefix, show, err := n.prefix(ctx, "kv.watch", p.Prefix)
		if err != nil {
			return WatchResult{}, err
		}
		if p.AfterRev < 0 { // from now on
			p.AfterRev = s.Rev()
		}
		wait := 30 * time.Second
		if p.Wait > 0 {
			wait = min(time.Duration(p.Wait*float64(time.Second)), maxWatchWait)
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		events, err := s.Watch(ctx, prefix, p.AfterRev)
		if err != nil {
			return WatchResult{}, kvError(err)
		}
		res := WatchResult{Rev: p.AfterRev}
		if n := len(events); n > 0 {
			res.Rev = events[n-1].Rev // past what the caller may not see, too
		}
		res.Events = slices.DeleteFunc(events, func(e store.Event) bool { return !show(e.Key) })
		if res.Events == nil {
			res.Events = []store.Event{}
		}
		return res, nil
	}).ReadOnly = true
}

// key checks that the caller may call method on key, and returns the key
// as stored: "~/x" is the caller's personal "~LOGIN/x".
func (n *Node) key(ctx context.Context, method, key string) (string, error) {
	c, _ := rpc.CallerFrom(ctx)
	key, err := authz.PersonalKey(c, key)
	if err != nil {
		return "", err
	}
	p := n.Policy()
	if d := p.ExplainKey(c, method, key); !d.Allowed {
		return "", p.Deny(c, fmt.Sprintf("%s on key %q", method, key), d)
	}
	return key, nil
}

// prefix is key for a method that reads every key under prefix; show says
// which of the keys found the caller may see (others' personal keys not).
func (n *Node) prefix(ctx context.Context, method, prefix string) (string, func(string) bool, error) {
	c, _ := rpc.CallerFrom(ctx)
	prefix, err := authz.PersonalKey(c, prefix)
	if err != nil {
		return "", nil, err
	}
	p := n.Policy()
	if d := p.ExplainPrefix(c, method, prefix); !d.Allowed {
		return "", nil, p.Deny(c, fmt.Sprintf("%s on prefix %q", method, prefix), d)
	}
	return prefix, func(key string) bool { return p.FilterKey(c, method, key) }, nil
}

// kvErrorCodes maps the store's errors to JSON-RPC codes: the one table.
var kvErrorCodes = []struct {
	err  error
	code int
}{
	{store.ErrNotFound, rpc.CodeNotFound},
	{store.ErrConflict, rpc.CodeConflict},
	{store.ErrNotInteger, rpc.CodeInvalidParams},
	{store.ErrOverflow, rpc.CodeInvalidParams},
	{store.ErrEmptyKey, rpc.CodeInvalidParams},
	{store.ErrInvalidKey, rpc.CodeInvalidParams},
	{store.ErrTooLarge, rpc.CodeInvalidParams},
	{store.ErrInvalidJSON, rpc.CodeInvalidParams},
	{store.ErrCompacted, rpc.CodeNotFound},
	{store.ErrClosed, rpc.CodeUnavailable},
}

func kvError(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range kvErrorCodes {
		if errors.Is(err, m.err) {
			e := &rpc.Error{Code: m.code, Message: err.Error()}
			var ce *store.ConflictError
			if errors.As(err, &ce) {
				e.Data = map[string]int64{"current_rev": ce.Current}
			}
			return e
		}
	}
	return err
}

// listVisible lists up to limit (0: all) of the entries under prefix that
// show keeps: limit counts what the caller sees, so others' personal keys
// hidden from it do not eat into it. It lists again, twice as far, while
// too few were visible and the store had more.
func listVisible(s *store.Store, prefix string, limit int, show func(string) bool) ([]store.Entry, error) {
	for n := limit; ; n *= 2 {
		entries, err := s.List(prefix, n)
		if err != nil {
			return nil, err
		}
		got := len(entries)
		entries = slices.DeleteFunc(entries, func(e store.Entry) bool { return !show(e.Key) })
		if limit <= 0 || len(entries) >= limit || got < n {
			if limit > 0 && len(entries) > limit {
				entries = entries[:limit]
			}
			return entries, nil
		}
	}
}
