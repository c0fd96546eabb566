package store

import (
	"fmt"
	"runtime/debug"
)

// A store that finds damage while serving (bbolt panics on a bad page, a
// read of the memory-mapped file faults, a commit fails for any reason but
// a full disk: see commitFailed) goes offline
// rather than take the process down: every later call returns the fault,
// which wraps ErrOffline, until the file is opened again.

// Fault is why the store went offline, or nil while it serves.
func (s *Store) Fault() error {
	if f := s.fault.Load(); f != nil {
		return *f
	}
	return nil
}

// goOffline takes the store offline for reason; the first reason stays.
func (s *Store) goOffline(reason any) error {
	err := fmt.Errorf("%w: %s is damaged or unreadable (%v); stop the node, then restore a backup, or copy the keys it can still read into a new file with `meshrpc store check --repair %s` (docs/reliability.md)", ErrOffline, s.path, reason, s.path)
	s.fault.CompareAndSwap(nil, &err)
	s.notifyWatchers() // watchers waiting for a change learn of the fault
	return s.Fault()
}

// guard runs fn, which reads or writes the file, turning a panic in bbolt
// or a fault on the memory-mapped file (SIGBUS, SIGSEGV, which recover
// cannot catch otherwise) into the store going offline.
func (s *Store) guard(fn func() error) (err error) {
	if f := s.Fault(); f != nil {
		return f
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = s.goOffline(p)
		}
	}()
	return fn()
}
