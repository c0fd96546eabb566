package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// op is one write waiting for a commit. apply runs inside the shared
// transaction: it validates first and writes only when valid, so a failing
// op leaves the transaction as it found it. Its outcome is published only
// after the commit succeeded.
type op struct {
	apply func(w *writer) (any, error)
	// request names the request the write is made for ("" none: see
	// Store.For); replay gives the result of its first write, made at rev,
	// when the store has seen the request.
	request string
	replay  func(w *writer, rev int64) (any, error)
	writes  int       // how many keys it may write (a batch's entries)
	at      time.Time // when it was queued
	res     any
	err     error
	done    chan struct{}
}

// writer is what an op sees of the transaction being built.
type writer struct {
	tx    *bolt.Tx
	kv    *bolt.Bucket
	log   *bolt.Bucket
	arena *arena // the store's, reset for this commit
	// request is the request the write being made is for (Store.For),
	// which its change in the log carries. requests is the store's (nil in
	// memory, where requests are not kept); the commit adds the requests
	// whose writes it makes, and takes them out again if it fails, and
	// forgotten are those whose changes it drops from the log, taken out
	// once it is durable.
	request   string
	requests  map[string]int64
	made      []string
	forgotten []string
	rev       int64 // the revision of the last write so far
	// abort, set by an op that failed after it wrote, fails the whole
	// commit: nothing of a half-made op is ever committed.
	abort error
	// logBytes is what the change log holds, with this commit's changes.
	logBytes int64
	// quota and spaces are the store's; deltas this commit's changes to
	// the spaces' usage, applied once it is durable.
	quota  *Quota
	spaces map[string]usage
	deltas map[string]usage
}

// logChange appends the change made at w.rev to the change log.
func (w *writer) logChange(change []byte) error {
	w.logBytes += int64(len(change))
	return w.log.Put(revKey(w.rev), change)
}

// minLogKept is how many of the last changes the log keeps whatever their
// size: a retry of a write made among them is still answered from the log.
const minLogKept = 100

// maxBatchOps bounds the writes one commit takes (a PutAll counts as
// many as its entries), so that a flood of writers cannot make one
// transaction unbounded.
const maxBatchOps = 4096

// maxLinger bounds how long the committer waits for more writes before a
// commit; see commitLoop.
const maxLinger = 200 * time.Microsecond

// commitLoop is the single committer: it takes every op queued, applies them
// in one transaction with one fsync, then answers them all. Ops that arrive
// during a commit form the next batch.
//
// When the last commit served several writers, those writers are likely
// to come back together, and the first of them would otherwise get a
// commit of its own with the rest queued behind it: one fsync per two
// batches wasted. So after such a commit the committer lingers for as many
// writes as the last batch had, at most a quarter of the last commit's
// time (and maxLinger), and at most twice the time over which the last
// batch's writes were queued, plus 20 µs: writers that come back together
// over the network arrive within microseconds, and lingering longer only
// idles the committer (docs/benchmarks.md has the figures). A lone writer,
// one after a commit of its own, never waits; one after a shared commit
// may wait up to maxLinger for company.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*op, 0, 64)
	lastSize, lastTook, lastSpread := 0, time.Duration(0), time.Duration(0)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		var first *op
		select {
		case first = <-s.queue:
		case <-s.stop:
			// Writes queued before Close are still committed.
			for {
				select {
				case o := <-s.queue:
					s.commit([]*op{o})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		writes := first.writes
	drain:
		for writes < maxBatchOps {
			select {
			case o := <-s.queue:
				batch = append(batch, o)
				writes += o.writes
			default:
				break drain
			}
		}
		if wait := min(lastTook/4, maxLinger, 2*lastSpread+20*time.Microsecond); len(batch) < lastSize && wait > 0 && !s.inMemory {
			linger.Reset(wait)
		gather:
			for len(batch) < lastSize && writes < maxBatchOps {
				select {
				case o := <-s.queue:
					batch = append(batch, o)
					writes += o.writes
				case <-linger.C:
					break gather
				}
			}
			linger.Stop()
		}
		start := time.Now()
		lastSpread = spread(batch)
		s.commit(batch)
		lastSize, lastTook = len(batch), time.Since(start)
	}
}

// spread is how far apart the ops of a batch were queued.
func spread(batch []*op) time.Duration {
	first, last := batch[0].at, batch[0].at
	for _, o := range batch[1:] {
		if o.at.Before(first) {
			first = o.at
		}
		if o.at.After(last) {
			last = o.at
		}
	}
	return last.Sub(first)
}

func (s *Store) commit(batch []*op) {
	rev := s.rev.Load()
	var w *writer
	var aborted *op
	txid := 0
	err := s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			txid = tx.ID()
			w = &writer{tx: tx, kv: tx.Bucket(bucketKV), log: tx.Bucket(bucketLog), rev: rev, arena: s.arena.reset(),
				logBytes: s.logBytes, quota: s.quota, spaces: s.spaces}
			// Revisions only grow: pack the log's pages full rather than
			// splitting them in half, for half the pages to read and rewrite.
			w.log.FillPercent = 1
			w.requests = s.requests // nil in memory
			var err error
			aborted, err = s.runBatch(w, tx, batch)
			return err
		})
	})
	if w != nil && w.requests != nil {
		if err != nil {
			w.forgotten = w.made // the writes were not made after all
		}
		for _, r := range w.forgotten {
			delete(s.requests, r)
		}
	}
	switch {
	case err == nil:
	case aborted != nil && errors.Is(err, w.abort):
		// One op failed half made: it alone fails; the others, rolled
		// back with it, are committed without it.
		close(aborted.done)
		rest := make([]*op, 0, len(batch)-1)
		for _, o := range batch {
			if o != aborted {
				rest = append(rest, o)
			}
		}
		if len(rest) > 0 {
			s.commit(rest)
		}
		return
	case errors.Is(err, ErrOffline):
	default:
		err = s.commitFailed(err, txid)
		if errors.Is(err, ErrDiskFull) && len(batch) > 1 {
			// Each op alone may still fit: a delete, say, in the pages
			// the file has free.
			for _, o := range batch {
				s.commit([]*op{o})
			}
			return
		}
	}
	s.committed(batch, w, err)
}

// runBatch runs batch's ops in w's transaction, and then records the new
// revision and trims the log. It returns the op that failed half made, if
// one did: its error (w.abort) rolls the transaction back.
func (s *Store) runBatch(w *writer, tx *bolt.Tx, batch []*op) (aborted *op, err error) {
	rev := w.rev
	for _, o := range batch {
		if o.res, o.err = w.run(o); w.abort != nil {
			return o, w.abort
		}
	}
	if w.rev == rev {
		return nil, nil
	}
	meta := tx.Bucket(bucketMeta)
	if err := putInt(meta, keyRev, w.rev); err != nil {
		return nil, err
	}
	return nil, s.compactLog(w, meta)
}

// committed ends batch's ops with err when the commit failed, and
// otherwise makes what w wrote the store's state and tells the watchers.
func (s *Store) committed(batch []*op, w *writer, err error) {
	if err != nil {
		for _, o := range batch {
			o.res, o.err = nil, err
		}
	}
	if err == nil && w != nil {
		s.logBytes = w.logBytes
		s.spacesMu.Lock()
		s.applyDeltas(w.deltas)
		s.spacesMu.Unlock()
		if w.rev != s.rev.Load() {
			s.rev.Store(w.rev)
			s.notifyWatchers()
		}
	}
	for _, o := range batch {
		close(o.done)
	}
}

// commitFailed is the error for a commit that bbolt failed (and rolled
// back) with err. A full disk (ENOSPC, EDQUOT) is not damage: when the
// file's newest meta page is still the last commit's, the failed commit
// left nothing that a reader or a reopen would see, so its writes are
// refused with ErrDiskFull and the store serves on, as it was. Anything
// else, a write or sync error, or a full disk met after the meta page was
// written (its sync failed: the page may or may not be on the disk), says
// the file cannot be trusted, and the store goes offline.
func (s *Store) commitFailed(err error, txid int) error {
	if isDiskFull(err) {
		last := -1
		verr := s.guard(func() error {
			return s.db.View(func(tx *bolt.Tx) error { last = tx.ID(); return nil })
		})
		if verr == nil && last == txid-1 {
			return fmt.Errorf("%w: the file system of %s has no room for this write (%v), which was not made; delete keys or free disk space, then write again", ErrDiskFull, s.path, err)
		}
	}
	return s.goOffline(fmt.Errorf("commit: %w", err))
}

// run applies o, or answers it with its first write's result when its
// request was seen; the change a write makes carries its request.
func (w *writer) run(o *op) (res any, err error) {
	if o.request == "" || w.requests == nil {
		return o.apply(w)
	}
	if rev, ok := w.requests[o.request]; ok {
		return o.replay(w, rev)
	}
	before := w.rev
	w.request = o.request
	res, err = o.apply(w)
	w.request = ""
	if err == nil && w.rev != before {
		w.requests[o.request] = w.rev
		w.made = append(w.made, o.request)
	}
	return res, err
}

// compactLog drops the oldest changes beyond maxLog, once a sixteenth
// more have gathered (dropping one with every commit would read and
// rewrite the log's first page each time), and beyond maxLogBytes, down to
// fifteen sixteenths of it; the last minLogKept changes always stay.
func (s *Store) compactLog(w *writer, meta *bolt.Bucket) error {
	overCount := w.rev-s.compacted.Load() > s.maxLog+s.maxLog/16
	if !overCount && w.logBytes <= s.maxLogBytes {
		return nil
	}
	byCount := w.rev - s.maxLog
	keepFrom := w.rev - min(minLogKept, s.maxLog)
	target := s.maxLogBytes - s.maxLogBytes/16
	var old, apart [][]byte // deleting under a moving cursor can skip keys
	until := int64(0)
	c := w.log.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rev := revOf(k)
		if rev > keepFrom || (rev > byCount && w.logBytes <= target) {
			break
		}
		old = append(old, k)
		if isApart(v) {
			apart = append(apart, k)
		}
		until = rev
		w.logBytes -= changeBytes(v)
		if r, ok := requestOf(v); ok && w.requests != nil {
			w.forgotten = append(w.forgotten, r)
		}
	}
	if len(old) == 0 {
		return nil
	}
	for _, k := range old {
		if err := w.log.Delete(k); err != nil {
			return err
		}
	}
	for _, k := range apart {
		if err := w.tx.Bucket(bucketLogValues).DeleteBucket(k); err != nil {
			return err
		}
	}
	if err := putInt(meta, keyCompacted, until); err != nil {
		return err
	}
	s.compacted.Store(until) // harmless if the commit then fails: only watchers re-list
	return nil
}

// write queues apply, made for request (see Store.For), for the next commit
// and waits for its outcome.
func (ws Writes) write(apply func(w *writer) (any, error), replay func(w *writer, rev int64) (any, error)) (any, error) {
	return ws.writeWeighed(1, apply, replay)
}

// writeWeighed is write for an op that may write up to writes keys.
func (ws Writes) writeWeighed(writes int, apply func(w *writer) (any, error), replay func(w *writer, rev int64) (any, error)) (any, error) {
	s := ws.s
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.Fault(); err != nil {
		return nil, err
	}
	o := &op{apply: apply, request: ws.request, replay: replay, writes: max(writes, 1), done: make(chan struct{}), at: time.Now()}
	select {
	case s.queue <- o:
	case <-s.stop:
		return nil, ErrClosed
	}
	// The select above picks at random when both are ready, so o may be
	// queued after Close has made the committer drain the queue and stop:
	// then nothing will ever take it. The committer answers every op it
	// takes before it stops, so once it has stopped, an op unanswered was
	// never applied.
	select {
	case <-o.done:
	case <-s.stopped:
		select {
		case <-o.done:
		default:
			return nil, ErrClosed
		}
	}
	return o.res, o.err
}
