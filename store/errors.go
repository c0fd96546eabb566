package store

import (
	"errors"
	"fmt"
)

// Errors of the store. Callers test them with errors.Is; node maps them to
// JSON-RPC codes.
var (
	ErrNotFound    = errors.New("store: key not found")
	ErrConflict    = errors.New("store: revision conflict")
	ErrNotInteger  = errors.New("store: value is not an integer")
	ErrOverflow    = errors.New("store: integer overflow")
	ErrCompacted   = errors.New("store: revision compacted")
	ErrEmptyKey    = errors.New("store: empty key")
	ErrTooLarge    = errors.New("store: too large")
	ErrInvalidJSON = errors.New("store: value is not valid JSON")
	ErrInvalidKey  = errors.New("store: invalid key")
	ErrClosed      = errors.New("store: closed")
	// ErrQuota is a write refused because its space is full (see Quota).
	ErrQuota = errors.New("store: quota exceeded")
	// ErrDamaged is a data file that Open refuses: damaged, empty or not a
	// meshrpc store. The error names the file, the damage and what to do.
	ErrDamaged = errors.New("store: damaged data file")
	// ErrOffline is every call of a store that found damage while serving
	// (see Store.Fault): it stays offline until the process opens it again.
	ErrOffline = errors.New("store: offline")
)

// ConflictError is a compare-and-swap that found another revision.
type ConflictError struct {
	Key      string
	Expected int64 // the revision the caller gave (0: absent)
	Current  int64 // the key's revision now (0: absent)
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: revision conflict on %q: expected revision %d, current is %d", e.Key, e.Expected, e.Current)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// CompactedError is a watch from a revision the change log no longer
// holds. The watcher re-lists (its state as of Current or later) and
// watches again after Current.
type CompactedError struct {
	After     int64 // the revision the watch asked to follow
	Compacted int64 // the log holds the changes after this revision
	Current   int64 // the store's revision when the watch was refused
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("store: revision compacted: revision %d is older than the change log, which starts after %d (the store is at %d); list the keys again, then watch after %d", e.After, e.Compacted, e.Current, e.Current)
}

// Is makes errors.Is(err, ErrCompacted) true.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }
