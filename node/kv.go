package node

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/meshrpc/meshrpc/node/api"
	"github.com/meshrpc/meshrpc/rpc"
	"github.com/meshrpc/meshrpc/store"
)

// maxWatchWait caps how long one kv.watch call may wait for a change.
const maxWatchWait = 60 * time.Second

// registerKV registers the store's procedures. Each declares its key (the
// rpc:"key" and rpc:"prefix" tags of its api params), so the server has
// authorized the call on it before the handler runs, and hands the handler
// the key as stored (a person's "~/x" is "~LOGIN/x"). Writes answer their
// own retries, from the store's change log (store.For), across restarts.
func registerKV(r *rpc.Registry, s *store.Store) {
	rpc.Register(r, "kv.get", "The value at key, or null when absent.", func(ctx context.Context, p api.KeyParams) (json.RawMessage, error) {
		e, ok, err := s.Get(p.Key)
		if err != nil || !ok {
			return json.RawMessage("null"), kvError(err)
		}
		return e.Value, nil
	}).ReadOnly = true
	rpc.Register(r, "kv.put", "Sets key to value (any JSON), durably.", func(ctx context.Context, p api.PutParams) (api.RevResult, error) {
		rev, err := s.For(rpc.RequestKeyFrom(ctx)).Put(p.Key, p.Value)
		return api.RevResult{Rev: rev}, kvError(err)
	}).AnswersRetries = true
	rpc.Register(r, "kv.put_all", "Sets each entry's key to its value, all in one atomic write or none; with if_absent, only where the key is absent. At most 1000 entries and 4 MiB, each key once.", func(ctx context.Context, p api.PutAllParams) (api.PutAllResult, error) {
		kvs := make([]store.KeyValue, len(p.Entries))
		for i, e := range p.Entries {
			kvs[i] = store.KeyValue{Key: e.Key, Value: e.Value}
		}
		res, err := s.For(rpc.RequestKeyFrom(ctx)).PutAll(kvs, p.IfAbsent)
		return api.PutAllResult{Rev: res.Rev, Written: res.Written, Present: res.Present}, kvError(err)
	}).AnswersRetries = true
	rpc.Register(r, "kv.delete", "Deletes key.", func(ctx context.Context, p api.KeyParams) (api.DeleteResult, error) {
		rev, existed, err := s.For(rpc.RequestKeyFrom(ctx)).Delete(p.Key)
		return api.DeleteResult{Rev: rev, Existed: existed}, kvError(err)
	}).AnswersRetries = true
	rpc.Register(r, "kv.list", "Entries (key, value, rev) whose keys begin with prefix and sort after after, in key order; at most limit of them and 4 MiB: page with after until a page is empty.", func(ctx context.Context, p api.ListParams) ([]store.Entry, error) {
		entries, err := listVisible(s, p, rpc.GrantFrom(ctx).Shows)
		return entries, kvError(err)
	}).ReadOnly = true
	rpc.Register(r, "kv.inc", "Adds delta (default 1) to the integer at key, atomically; returns the new value.", func(ctx context.Context, p api.IncParams) (int64, error) {
		delta := int64(1)
		if p.Delta != nil {
			delta = *p.Delta
		}
		v, _, err := s.For(rpc.RequestKeyFrom(ctx)).Inc(p.Key, delta)
		return v, kvError(err)
	}).AnswersRetries = true
	rpc.Register(r, "kv.cas", "Sets key to value only if its revision is rev (0: only if absent).", func(ctx context.Context, p api.CASParams) (api.RevResult, error) {
		rev, err := s.For(rpc.RequestKeyFrom(ctx)).CAS(p.Key, p.Rev, p.Value)
		return api.RevResult{Rev: rev}, kvError(err)
	}).AnswersRetries = true
	w := rpc.Register(r, "kv.watch", "Changes under prefix after after_rev (-1: from now); waits up to wait seconds (max 60) for one. At most 1000 changes and 4 MiB: watch again after rev for the rest.", func(ctx context.Context, p api.WatchParams) (api.WatchResult, error) {
		return watch(ctx, s, p)
	})
	w.ReadOnly = true
	w.Timeout = maxWatchWait + 5*time.Second // the server's default (30 s) would cut the longest wait short
}

// watch waits for changes under p.Prefix, showing only the keys the caller
// was granted.
func watch(ctx context.Context, s *store.Store, p api.WatchParams) (api.WatchResult, error) {
	if p.AfterRev < 0 { // from now on
		p.AfterRev = s.Rev()
	}
	wait := 30 * time.Second
	if p.Wait > 0 {
		wait = min(time.Duration(p.Wait*float64(time.Second)), maxWatchWait)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	events, err := s.Watch(ctx, p.Prefix, p.AfterRev)
	if err != nil {
		return api.WatchResult{}, kvError(err)
	}
	res := api.WatchResult{Rev: p.AfterRev}
	if n := len(events); n > 0 {
		res.Rev = events[n-1].Rev // past what the caller may not see, too
	}
	shows := rpc.GrantFrom(ctx).Shows
	res.Events = slices.DeleteFunc(events, func(e store.Event) bool { return !shows(e.Key) })
	if res.Events == nil {
		res.Events = []store.Event{}
	}
	return res, nil
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
	{store.ErrQuota, rpc.CodeQuotaExceeded},
	{store.ErrDiskFull, rpc.CodeQuotaExceeded},
	{store.ErrInvalidJSON, rpc.CodeInvalidParams},
	{store.ErrCompacted, rpc.CodeNotFound},
	{store.ErrClosed, rpc.CodeUnavailable},
	{store.ErrOffline, rpc.CodeUnavailable},
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
			var cpe *store.CompactedError
			if errors.As(err, &cpe) {
				e.Data = map[string]int64{"compacted_rev": cpe.Compacted, "current_rev": cpe.Current}
			}
			return e
		}
	}
	return err
}

// listVisible lists the entries under p.Prefix after p.After that show
// keeps, up to p.Limit of them and api.MaxListBytes of keys and values
// (with api.ListEntryBytes for each entry's framing, so that a reply of
// tiny entries is bounded too): limit counts what the caller sees, so
// others' personal keys hidden from it do not eat into it.
func listVisible(s *store.Store, p api.ListParams, show func(string) bool) ([]store.Entry, error) {
	entries := []store.Entry{}
	size := 0
	err := s.Range(p.Prefix, p.After, func(e store.Entry) bool {
		if !show(e.Key) {
			return true
		}
		size += len(e.Key) + len(e.Value) + api.ListEntryBytes
		if len(entries) > 0 && size > api.MaxListBytes {
			return false
		}
		entries = append(entries, e)
		return p.Limit <= 0 || len(entries) < p.Limit
	})
	return entries, err
}
