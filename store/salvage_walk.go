package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The walk of Salvage: the store's tree from the root bucket's page, the
// pages no sound page leads to, and what their entries are.

// visitPage reads page id of bucket ("" is the root bucket) and what it
// points to; a panic while reading it (there should be none) costs that
// page only.
func (s *salvager) visitPage(id uint64, bucket string, depth int, r keyRange) {
	if depth > 64 || s.visited[id] || id < 2 || id >= s.pf.pages {
		return
	}
	s.visited[id] = true
	defer func() {
		if p := recover(); p != nil {
			s.unreadable(bucket, id, r, fmt.Sprint(p))
		}
	}()
	p, err := s.pf.read(id)
	if err != nil {
		s.unreadable(bucket, id, r, err.Error())
		return
	}
	s.parse(p, id, bucket, depth, r)
}

// parse reads the elements of page p (id) of bucket: a branch's children,
// a leaf's entries. A page whose header is damaged is read by the count
// its first element implies, if every element then checks.
func (s *salvager) parse(p page, id uint64, bucket string, depth int, r keyRange) {
	if p.id == id && (p.flags == leafPageFlag || p.flags == branchPageFlag) {
		for i := range uint64(p.overflow) {
			s.visited[id+1+i] = true
		}
	}
	flags, count := p.flags, p.count
	if p.id != id || (flags != leafPageFlag && flags != branchPageFlag) || pageHeaderSize+count*pageElementSize > len(p.b) {
		var ok bool
		if flags, count, ok = inferPage(p.b, s.pf.pages); !ok {
			s.unreadable(bucket, id, r, "its header and elements are damaged")
			return
		}
		s.note(fmt.Sprintf("page %d (%s): header damaged; its %d elements read", id, bucketName(bucket), count))
	}
	if flags == branchPageFlag {
		children, bad := branchChildren(p.b, count, s.pf.pages)
		if bad > 0 {
			s.note(fmt.Sprintf("page %d (%s): %d of %d elements damaged", id, bucketName(bucket), bad, count))
		}
		for i, c := range children {
			cr := keyRange{c.key, r.hi}
			if i+1 < len(children) {
				cr.hi = children[i+1].key
			}
			s.visitPage(c.id, bucket, depth+1, cr)
		}
		return
	}
	elems, bad := leafElements(p.b, count)
	if bad > 0 {
		s.note(fmt.Sprintf("page %d (%s): %d of %d entries damaged", id, bucketName(bucket), bad, count))
		if bucket == "kv" {
			s.lostUnknown += bad
		}
	}
	for _, e := range elems {
		s.entry(bucket, e, depth)
	}
}

// inferPage finds a damaged header's flags and count from the elements.
func inferPage(b []byte, pages uint64) (flags uint16, count int, ok bool) {
	if n, ok := inferCount(b, 4); ok {
		if _, bad := leafElements(b, n); bad == 0 {
			return leafPageFlag, n, true
		}
	}
	if n, ok := inferCount(b, 0); ok {
		if _, bad := branchChildren(b, n, pages); bad == 0 {
			return branchPageFlag, n, true
		}
	}
	return 0, 0, false
}

// entry takes one leaf entry of bucket.
func (s *salvager) entry(bucket string, e leafElement, depth int) {
	switch bucket {
	case "":
		switch name := string(e.key); {
		case !e.bucket:
		case name == string(bucketKV), name == string(bucketLog), name == string(bucketMeta), name == string(bucketLogValues):
			s.visitBucket(e.value, name, depth)
		}
	case "logvalues": // a bucket for each value kept apart, named by its revision
		if e.bucket && len(e.key) == 8 {
			s.visitBucket(e.value, "logvalues/"+string(e.key), depth)
		}
	case "kv":
		if !e.bucket && isRecord(e.key, e.value) {
			s.found++
			s.out.add(string(e.key), e.value)
			delete(s.lostKeys, string(e.key))
		} else if checkKey(string(e.key)) == nil {
			s.lostKeys[string(e.key)] = true
		} else {
			s.lostUnknown++
		}
	case "log":
		if ev, ok := eventOf(e); ok {
			s.events[ev.Rev] = ev
		}
	default:
		if rev, ok := strings.CutPrefix(bucket, "logvalues/"); ok && !e.bucket && string(e.key) == string(valueKey) && validJSON(e.value) {
			s.values[revOf([]byte(rev))] = bytes.Clone(e.value)
		}
	case "meta":
		switch string(e.key) {
		case string(keyRev):
			if len(e.value) == 8 {
				s.metaRev = int64(binary.BigEndian.Uint64(e.value))
			}
		case string(keyFormat):
			s.format = string(e.value)
		}
	}
}

// visitBucket follows a bucket's value: its root page, or its inline page.
func (s *salvager) visitBucket(v []byte, name string, depth int) {
	if len(v) < 16 {
		s.note(fmt.Sprintf("the %s bucket's header is damaged", bucketName(name)))
		return
	}
	if root := binary.LittleEndian.Uint64(v); root != 0 {
		s.visitPage(root, name, depth+1, keyRange{})
		return
	}
	if len(v) < 16+pageHeaderSize {
		s.note(fmt.Sprintf("the %s bucket's inline page is damaged", bucketName(name)))
		return
	}
	p := parseHeader(v[16:])
	s.parse(p, p.id, name, depth, keyRange{})
}

// scanUnvisited reads every page the walk did not reach and free does not
// list (nil: every page), for the store's entries and changes, which it
// tells apart by their shape.
func (s *salvager) scanUnvisited(free map[uint64]bool) {
	for id := uint64(2); id < s.pf.pages; id++ {
		if s.visited[id] || free[id] {
			continue
		}
		func() {
			defer func() { recover() }()
			p, err := s.pf.read(id)
			if err != nil {
				return
			}
			flags, count := p.flags, p.count
			if p.id == id && flags == leafPageFlag && pageHeaderSize+count*pageElementSize <= len(p.b) {
				for i := range uint64(p.overflow) {
					s.visited[id+1+i] = true
				}
			} else if flags, count, _ = inferPage(p.b, s.pf.pages); flags != leafPageFlag {
				return
			}
			elems, _ := leafElements(p.b, count)
			found := 0
			var events []Event
			for _, e := range elems {
				if isRecord(e.key, e.value) {
					s.found++
					s.out.add(string(e.key), e.value)
					delete(s.lostKeys, string(e.key))
					found++
				} else if ev, ok := eventOf(e); ok {
					events = append(events, ev)
				}
			}
			// Changes are taken from a page that holds nothing else, as a
			// page of the log does: noise seldom passes for a change, but
			// a page of it all the more seldom.
			if len(events) == len(elems) {
				for _, ev := range events {
					s.events[ev.Rev] = ev
				}
			}
			if found > 0 && free != nil {
				s.note(fmt.Sprintf("page %d (keys): no sound page leads to it; its %d entries read", id, found))
			}
		}()
	}
}

// isRecord says whether key and value are an entry of the kv bucket.
func isRecord(key, v []byte) bool {
	if checkKey(string(key)) != nil || len(v) < 16 {
		return false
	}
	mod, create := binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	return mod > 0 && mod < 1<<56 && create > 0 && create <= mod && validJSON(v[16:])
}

// eventOf is the change a leaf entry of the log holds, if it is one.
func eventOf(e leafElement) (Event, bool) {
	if len(e.key) != 8 || e.bucket {
		return Event{}, false
	}
	// A value kept apart (Value nil here) is found in the logvalues bucket.
	ev, ok := decodeEvent(revOf(e.key), e.value, nil)
	if !ok || ev.Rev <= 0 || ev.Rev >= 1<<56 || checkKey(ev.Key) != nil || ev.Type == EventPut && !isApart(e.value) && !validJSON(ev.Value) {
		return Event{}, false
	}
	return ev, true
}

// validJSON is a value as the store keeps them: JSON (which
// encoding/json checks) and UTF-8 (which it does not). Bytes of a damaged
// page inside a string are seldom UTF-8.
func validJSON(v []byte) bool { return json.Valid(v) && utf8.Valid(v) }
