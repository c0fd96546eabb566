package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
)

// SalvageInfo says what Salvage saved and what it could not.
type SalvageInfo struct {
	Path string `json:"path"` // the new store file
	Keys int    `json:"keys"` // the keys it holds
	// FromLog is how many of them were taken from the change log, which
	// holds the latest changes with their values, because their own page
	// was damaged.
	FromLog int `json:"from_log"`
	// Lost is how many entries were found on damaged pages and could not
	// be saved. The keys of an UnreadablePage (a page of the store's keys
	// with its header and elements damaged) are lost too and not counted.
	Lost            int `json:"lost"`
	UnreadablePages int `json:"unreadable_pages"`
	// Rev is the new store's revision: the damaged store's, or the newest
	// found. Its change log is empty: a watch from an older revision is
	// told to re-list, and retries of writes made before are not known.
	Rev int64 `json:"rev"`
	// Guessed: both meta pages were damaged, so nothing said which pages
	// were in use; the keys come from every page that holds some, the
	// newest revision of each winning, and a key deleted before may be
	// back.
	Guessed bool     `json:"guessed,omitempty"`
	Damage  []string `json:"damage"` // what was found damaged, the first 20
}

// Salvage copies every key it can read from the store file path, which may
// be damaged so that Open refuses it, into a new store file at to (default
// path+".repaired"), and never changes path. It reads the file page by page
// with every position checked (no memory map, no bbolt cursor), follows
// the store's tree as far as its pages are sound, reads the pages no sound
// page points to but the freelist does not list as free (those under a
// damaged page), recovers entries from a page whose header alone is
// damaged, and takes the latest value of a key whose page is lost from the
// change log when it still holds it. The new file is written beside to,
// fsynced and checked (Check) before it takes its name. No process may
// hold path.
func Salvage(path, to string) (info SalvageInfo, err error) {
	if to == "" {
		to = path + ".repaired"
	}
	if _, err := os.Stat(to); err == nil {
		return info, fmt.Errorf("store: salvage: %s already exists; move it away or name another file", to)
	}
	f, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("store: salvage: %w", err)
	}
	defer f.Close()
	if err := checkNotInUse(path); err != nil {
		return info, err
	}
	fi, err := f.Stat()
	if err != nil {
		return info, fmt.Errorf("store: salvage: %w", err)
	}
	if fi.Size() == 0 {
		return info, fmt.Errorf("store: salvage: %s is empty (0 bytes): there is nothing to salvage; restore a backup", path)
	}
	s := &salvager{
		pf: &pageFile{f: f, size: fi.Size()}, info: &info, visited: map[uint64]bool{},
		events: map[int64]Event{}, values: map[int64][]byte{}, lostKeys: map[string]bool{},
	}
	if s.out, err = createSalvage(to); err != nil {
		return info, err
	}
	defer func() {
		if err != nil {
			s.out.abandon()
		}
	}()
	if err := s.run(path); err != nil {
		return info, err
	}
	if s.found == 0 && len(s.events) == 0 {
		return info, fmt.Errorf("store: salvage: found no key in %s: it is not a meshrpc store, or nothing in it is readable; restore a backup, or move the file away to start an empty store", path)
	}
	if info.Rev, err = s.out.finish(s); err != nil {
		return info, err
	}
	info.Path, info.Keys = to, s.out.keys
	info.Lost = len(s.lostKeys) + s.lostUnknown
	return info, nil
}

// salvager walks a damaged file.
type salvager struct {
	pf      *pageFile
	out     *salvageFile
	info    *SalvageInfo
	visited map[uint64]bool
	// events are the change log's, by revision; metaRev is the meta
	// bucket's revision.
	events  map[int64]Event
	metaRev int64
	// values are the values kept apart from the log (format v3), by
	// revision.
	values map[int64][]byte
	// lostKeys are keys whose entry was damaged; lostUnknown counts the
	// damaged entries whose key is unreadable.
	lostKeys    map[string]bool
	lostUnknown int
	// lostPages are the key ranges of the pages of keys that could not be
	// read at all.
	lostPages []keyRange
	format    string
	found     int // entries found on pages
}

// keyRange is the keys from lo up to hi (nil: no end) that a page holds, as
// its parent branch page says.
type keyRange struct{ lo, hi []byte }

func (s *salvager) run(path string) error {
	meta, ok := s.newestMeta()
	if !ok {
		s.info.Guessed = true
		s.note("both meta pages are damaged")
		s.pf.psize = guessPageSize(s.pf)
		s.pf.pages = uint64(s.pf.size / s.pf.psize)
		s.scanUnvisited(nil)
	} else {
		s.pf.psize, s.pf.pages = int64(meta.pageSize), meta.pgid
		if need := int64(meta.pgid) * int64(meta.pageSize); s.pf.size < need {
			s.note(fmt.Sprintf("truncated: %d bytes, its pages need %d", s.pf.size, need))
		}
		s.visitPage(meta.root, "", 0, keyRange{})
		free, err := map[uint64]bool(nil), fmt.Errorf("none on disk")
		if meta.freelist != noFreelist {
			free, err = s.pf.freePages(meta.freelist)
		}
		if err != nil {
			// Without the freelist, a page no sound page leads to may be
			// under a damaged one or a free page's stale copy.
			s.note(fmt.Sprintf("freelist: %v", err))
			s.info.Guessed = true
		}
		s.scanUnvisited(free)
	}
	if s.format != "" && s.format != string(formatV1) && s.format != string(formatV2) && s.format != string(formatV3) {
		return fmt.Errorf("store: salvage: %s has format %q, not a meshrpc store's", path, s.format)
	}
	return s.out.flush()
}

// newestMeta is the valid meta page of the higher transaction, as bbolt
// picks it.
func (s *salvager) newestMeta() (boltMeta, bool) {
	m0, err0 := readMeta(s.pf.f, 0)
	psize := int64(os.Getpagesize())
	if err0 == nil {
		psize = int64(m0.pageSize)
	} else {
		s.note(fmt.Sprintf("meta page 0: %v", err0))
	}
	m1, err1 := readMeta(s.pf.f, psize)
	if err1 != nil {
		s.note(fmt.Sprintf("meta page 1: %v", err1))
	}
	switch {
	case err0 == nil && (err1 != nil || m0.txid >= m1.txid):
		return m0, true
	case err1 == nil:
		return m1, true
	}
	return boltMeta{}, false
}

// guessPageSize is the page size at which most pages carry their own id.
func guessPageSize(pf *pageFile) int64 {
	best, bestHits := int64(os.Getpagesize()), 0
	for _, size := range []int64{4096, 8192, 16384, 65536} {
		hits := 0
		var b [pageHeaderSize]byte
		for id := int64(2); id < 256 && (id+1)*size <= pf.size; id++ {
			if _, err := pf.f.ReadAt(b[:], id*size); err == nil && binary.LittleEndian.Uint64(b[:]) == uint64(id) {
				hits++
			}
		}
		if hits > bestHits {
			best, bestHits = size, hits
		}
	}
	return best
}

func (s *salvager) note(damage string) {
	if len(s.info.Damage) < 20 {
		s.info.Damage = append(s.info.Damage, damage)
	}
}

// unreadable notes a page of bucket, holding the keys in r, that could
// not be read at all.
func (s *salvager) unreadable(bucket string, id uint64, r keyRange, why string) {
	switch bucket {
	case "kv":
		s.lostPages = append(s.lostPages, r)
	case "": // the kv bucket may have been on it
		s.lostPages = append(s.lostPages, keyRange{})
	}
	s.note(fmt.Sprintf("page %d (%s): %s", id, bucketName(bucket), why))
}

func bucketName(bucket string) string {
	switch bucket {
	case "":
		return "the root"
	case "log":
		return "the change log"
	case "kv":
		return "keys"
	}
	return bucket
}

// sortedEvents are the changes found in the log, oldest first, with the
// values kept apart that were found; a put whose value was not found keeps
// Value nil.
func (s *salvager) sortedEvents() []Event {
	revs := make([]int64, 0, len(s.events))
	for r := range s.events {
		revs = append(revs, r)
	}
	slices.Sort(revs)
	events := make([]Event, len(revs))
	for i, r := range revs {
		events[i] = s.events[r]
		if events[i].Type == EventPut && events[i].Value == nil {
			events[i].Value = s.values[r] // nil when lost
		}
	}
	return events
}
