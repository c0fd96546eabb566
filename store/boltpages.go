package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The bbolt file read page by page with ReadAt, as Salvage does: no memory
// map to fault on, and every length and position checked against the page
// before it is used, so a damaged page is an error, never a crash. The
// layout is bbolt's (go.etcd.io/bbolt/internal/common): a page is a 16-byte
// header (id u64, flags u16, count u16, overflow u32) and its elements,
// little-endian.

const (
	pageHeaderSize   = 16
	pageElementSize  = 16 // a leaf's (flags, pos, ksize, vsize) and a branch's (pos, ksize, pgid)
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	noFreelist       = ^uint64(0)
)

// boltMeta is the part of a meta page Salvage needs.
type boltMeta struct {
	pageSize uint32
	root     uint64 // the root bucket's page
	freelist uint64
	pgid     uint64 // the high water mark: pages at or above it are unused
	txid     uint64
}

// readMeta reads and checks the meta page at off: magic, version and
// checksum, as bbolt does.
func readMeta(f io.ReaderAt, off int64) (boltMeta, error) {
	var b [pageHeaderSize + 64]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, err
	}
	m := b[pageHeaderSize:]
	le := binary.LittleEndian
	switch {
	case le.Uint32(m) != boltMagic:
		return boltMeta{}, fmt.Errorf("no bbolt magic")
	case le.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt version %d", le.Uint32(m[4:]))
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return boltMeta{}, fmt.Errorf("checksum mismatch")
	}
	meta := boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if meta.pageSize < 512 || meta.pageSize > 1<<20 || meta.root >= meta.pgid {
		return boltMeta{}, fmt.Errorf("page size %d, root page %d of %d", meta.pageSize, meta.root, meta.pgid)
	}
	return meta, nil
}

// pageFile reads the pages of a bbolt file.
type pageFile struct {
	f     *os.File
	size  int64 // the file's length
	psize int64
	pages uint64 // pages in use: the meta's high water mark, or the file's length
}

// page is one page, with its overflow pages, as read.
type page struct {
	id       uint64
	flags    uint16
	count    int
	overflow uint32
	b        []byte
}

// read reads page id, with as many overflow pages as its header says
// (within the file and the pages in use). An error is a page that cannot
// be read: beyond the file's end, or an I/O error such as a bad sector.
func (pf *pageFile) read(id uint64) (page, error) {
	off := int64(id) * pf.psize
	if id >= pf.pages || off+pf.psize > pf.size {
		return page{}, fmt.Errorf("page %d is beyond the file's end", id)
	}
	b := make([]byte, pf.psize)
	if _, err := pf.f.ReadAt(b, off); err != nil {
		return page{}, fmt.Errorf("page %d: %w", id, err)
	}
	p := parseHeader(b)
	if p.id == id && p.overflow > 0 && uint64(p.overflow) < pf.pages-id && off+int64(p.overflow+1)*pf.psize <= pf.size {
		more := make([]byte, int64(p.overflow)*pf.psize)
		if _, err := pf.f.ReadAt(more, off+pf.psize); err != nil {
			return page{}, fmt.Errorf("page %d's overflow: %w", id, err)
		}
		p.b = append(b, more...)
	}
	return p, nil
}

func parseHeader(b []byte) page {
	le := binary.LittleEndian
	return page{id: le.Uint64(b), flags: le.Uint16(b[8:]), count: int(le.Uint16(b[10:])), overflow: le.Uint32(b[12:]), b: b}
}

// leafElement is a key and value of a leaf page.
type leafElement struct {
	bucket     bool // the value is a bucket (bbolt's bucketLeafFlag)
	key, value []byte
}

// leafElements parses p as a leaf page of count elements: each element
// whose key and value lie within the page, and how many do not.
func leafElements(b []byte, count int) (elems []leafElement, bad int) {
	le := binary.LittleEndian
	for i := range count {
		at := pageHeaderSize + i*pageElementSize
		if at+pageElementSize > len(b) {
			return elems, bad + count - i
		}
		e := b[at:]
		flags, pos, ksize, vsize := le.Uint32(e), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
		start := uint64(at) + pos
		if flags&^bucketLeafFlag != 0 || start+ksize+vsize > uint64(len(b)) || ksize == 0 {
			bad++
			continue
		}
		elems = append(elems, leafElement{bucket: flags&bucketLeafFlag != 0, key: b[start : start+ksize], value: b[start+ksize : start+ksize+vsize]})
	}
	return elems, bad
}

// branchChild is an element of a branch page: the page it points to, and
// the first key of that page.
type branchChild struct {
	key []byte
	id  uint64
}

// branchChildren parses p as a branch page of count elements: the pages
// each element points to below pages, and how many elements are damaged.
func branchChildren(b []byte, count int, pages uint64) (children []branchChild, bad int) {
	le := binary.LittleEndian
	for i := range count {
		at := pageHeaderSize + i*pageElementSize
		if at+pageElementSize > len(b) {
			return children, bad + count - i
		}
		e := b[at:]
		pos, ksize, child := uint64(le.Uint32(e)), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
		if uint64(at)+pos+ksize > uint64(len(b)) || child < 2 || child >= pages {
			bad++
			continue
		}
		children = append(children, branchChild{b[uint64(at)+pos : uint64(at)+pos+ksize], child})
	}
	return children, bad
}

// inferCount is the element count of a page whose header is damaged but
// whose elements are not: the first element's data follows the last
// element, so its position (relative to itself) is count elements long.
// posAt is 4 for a leaf's element (after its flags), 0 for a branch's.
func inferCount(b []byte, posAt int) (int, bool) {
	if len(b) < pageHeaderSize+pageElementSize {
		return 0, false
	}
	pos := int(binary.LittleEndian.Uint32(b[pageHeaderSize+posAt:]))
	n := pos / pageElementSize
	if pos%pageElementSize != 0 || n < 1 || pageHeaderSize+n*pageElementSize > len(b) {
		return 0, false
	}
	return n, true
}

// freePages reads the freelist at id: every page it lists as free or
// pending, and the freelist's own pages.
func (pf *pageFile) freePages(id uint64) (map[uint64]bool, error) {
	p, err := pf.read(id)
	if err != nil {
		return nil, err
	}
	if p.id != id || p.flags != freelistPageFlag {
		return nil, fmt.Errorf("page %d is not the freelist", id)
	}
	le := binary.LittleEndian
	start, n := pageHeaderSize, uint64(p.count)
	if p.count == 0xFFFF { // the count is the first element
		if len(p.b) < pageHeaderSize+8 {
			return nil, fmt.Errorf("freelist page %d is cut short", id)
		}
		start, n = pageHeaderSize+8, le.Uint64(p.b[pageHeaderSize:])
	}
	if n > uint64(len(p.b)-start)/8 {
		return nil, fmt.Errorf("freelist page %d lists %d pages, more than it holds", id, n)
	}
	free := map[uint64]bool{}
	for i := range n {
		free[le.Uint64(p.b[start+int(i)*8:])] = true
	}
	for i := range uint64(p.overflow) + 1 {
		free[id+i] = true
	}
	return free, nil
}
