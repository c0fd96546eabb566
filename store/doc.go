// Package store is meshrpc's durable key-value store: JSON values under
// string keys in one bbolt file, with atomic increments, compare-and-swap on
// per-key revisions, batches of keys written whole or not at all (PutAll),
// and a change feed (Watch) ordered by a store-wide
// revision that grows by one with every write, as in etcd.
//
// Durability: a write returns only after its transaction is committed and
// the file fsynced (fdatasync on Linux); an acknowledged write survives a
// crash or power loss. Concurrent writers are group-committed: the writes
// queued while one commit runs share the next transaction and its
// fsyncs, so throughput grows with concurrency. A lone writer (the last
// commit served it alone, or no one) never waits for company; a writer
// right after a commit that several shared may wait up to 200 µs for the
// others to come back. [OpenInMemory] skips the fsync; it is for tests and the demo.
//
// Exactly once: [Store.For] names the request a write is made for (the node
// passes the caller, call id and request id of a kv.* call). The change the
// write makes carries the name, in the same transaction, so a client's retry
// of a write whose reply was lost is answered with the first result and not
// made again, even after a crash and a restart.
//
// Limits: keys are 1 to 1024 bytes of UTF-8, values valid JSON of at most
// 512 KiB, a batch at most 1000 entries and 4 MiB. The change log keeps at least the last 10000 changes (it drops the
// oldest a sixteenth at a time); a watch from an older revision (but 0,
// which starts at the oldest change kept) gets a *CompactedError and should
// re-list, and a request whose write has left it is forgotten.
//
// Damage: Open refuses a damaged, truncated, empty or foreign file
// (ErrDamaged), and damage found while serving takes the store offline
// (ErrOffline, Store.Fault), not the process. A full disk is not damage:
// writes are refused (ErrDiskFull) before the last of the file system's
// space (the reserve), and a commit that meets a full disk anyway is
// refused with ErrDiskFull while the store serves on. Backup copies a live store,
// Check and Restore serve `meshrpc store`, and Salvage copies the keys a
// damaged file still holds into a new one, reading its pages itself.
//
// File format: v3. The change log keeps each change's value, a large one
// (4 KiB or more) apart from the change, in pages of its own written once,
// so that a large put makes bbolt write about twice the value (the key's
// record and the log's copy) rather than five times. Open upgrades a v1 or
// v2 file to v3 in place (nothing is rewritten); a meshrpc older than v3
// then refuses the file.
//
// It knows nothing of the network.
package store
