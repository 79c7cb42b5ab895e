package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
)

// Entry is the snapshot of one record: what the differ compares against.
type Entry struct {
	FP  uint64 // fingerprint of the canonical record
	Ver uint64 // hash of the MIS version value; 0 when the profile has none
	At  int64  // windowed records: start instant, unix seconds; else 0
	// Sum is the record's summand in its bucket's summary, as the MIS computed it
	// (see mapping.Summarizer); valid when HasSum.
	Sum    uint32
	HasSum bool
	Seen   bool // set by the differ during a poll
	gone   bool // removed by a commit
}

// Snapshot is an entity's snapshot in memory, in flat arrays without pointers: every
// key's bytes in one buffer with an end offset per record, per record its entry and
// its 64-bit key hash, and an open-addressing index over the hashes (a slice of int32
// positions probed linearly) — no per-key allocation on load, nothing for the garbage
// collector to trace, and a look-up is one or two probes into one slice. On disk it is a log of pages (see prepareWrite): a commit appends the
// entries it changed and tombstones for those it removed, so writing 1% changes writes
// about 1% of the snapshot; the log is compacted when stale copies pile up.
type Snapshot struct {
	Entity  string
	Entries []Entry
	keyBuf  []byte   // the keys' bytes, in the order of Entries
	keyEnd  []uint32 // keyEnd[i]: where key i ends in keyBuf (it starts where key i-1 ends)
	hashes  []uint64
	slots   []int32 // position+1 in Entries; 0 empty; -1 a deleted slot
	used    int     // slots not empty (tombstones included)
	live    int
	// The disk log.
	nextPage int64 // page number the next append writes
	diskRows int   // entries and tombstones on disk, stale copies included
	legacy   bool  // read from the old hash-paged format: rewritten at the next commit
	// partial: only some keys' records were loaded (LoadPartial). A commit appends to
	// the log and never compacts it (a rewrite would drop the records not loaded).
	partial bool
}

// seed keys the in-memory index; it never leaves the process.
var seed = maphash.MakeSeed()

func newSnapshot(entity string, n int) *Snapshot {
	s := &Snapshot{Entity: entity, keyEnd: make([]uint32, 0, n), Entries: make([]Entry, 0, n), hashes: make([]uint64, 0, n), nextPage: logBase}
	s.slots = make([]int32, slotsFor(n))
	return s
}

// slotsFor is the index size for n records: a power of two, at most half full.
func slotsFor(n int) int {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return size
}

// keyBytes is the key of the record at position i, in the snapshot's buffer.
func (s *Snapshot) keyBytes(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = s.keyEnd[i-1]
	}
	return s.keyBuf[start:s.keyEnd[i]]
}

// Key is the key of the record at position i of Entries.
func (s *Snapshot) Key(i int) string { return string(s.keyBytes(i)) }

// Reserve makes room for n records in all, so that a snapshot filled by a first poll
// does not grow its arrays by copying them (each copy briefly holds two).
func (s *Snapshot) Reserve(n int) {
	if n <= cap(s.Entries) {
		return
	}
	s.Entries = slices.Grow(s.Entries, n-len(s.Entries))
	s.hashes = slices.Grow(s.hashes, n-len(s.hashes))
	s.keyEnd = slices.Grow(s.keyEnd, n-len(s.keyEnd))
	if len(s.keyBuf) == 0 {
		s.keyBuf = make([]byte, 0, 8*n) // a guess: the demo's keys are 6-7 digits
	}
	if size := slotsFor(n); size > len(s.slots) {
		s.rehash(size)
	}
}

// Len is the number of records in the snapshot.
func (s *Snapshot) Len() int { return s.live }

func (s *Snapshot) find(h uint64, key string) int {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		p := s.slots[i]
		if p == 0 {
			return -1
		}
		if p > 0 && s.hashes[p-1] == h && string(s.keyBytes(int(p-1))) == key {
			return int(p - 1)
		}
	}
}

func (s *Snapshot) findBytes(h uint64, key []byte) int {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		p := s.slots[i]
		if p == 0 {
			return -1
		}
		if p > 0 && s.hashes[p-1] == h && bytes.Equal(s.keyBytes(int(p-1)), key) {
			return int(p - 1)
		}
	}
}

// Get returns a pointer to the entry for key, or nil.
func (s *Snapshot) Get(key string) *Entry {
	if i := s.Pos(key); i >= 0 {
		return &s.Entries[i]
	}
	return nil
}

// GetBytes is Get for a key held in a byte slice, without allocating.
func (s *Snapshot) GetBytes(key []byte) *Entry {
	if i := s.PosBytes(key); i >= 0 {
		return &s.Entries[i]
	}
	return nil
}

// PosBytes is the position of key in Entries, or -1.
func (s *Snapshot) PosBytes(key []byte) int { return s.findBytes(maphash.Bytes(seed, key), key) }

// Pos is the position of key in Entries, or -1.
func (s *Snapshot) Pos(key string) int { return s.find(maphash.String(seed, key), key) }

// add appends a record the snapshot does not have and returns its position.
func (s *Snapshot) add(key string, h uint64, e Entry) int {
	s.keyBuf = append(s.keyBuf, key...)
	return s.push(h, e)
}

// addBytes is add for a key held in a byte slice.
func (s *Snapshot) addBytes(key []byte, h uint64, e Entry) int {
	s.keyBuf = append(s.keyBuf, key...)
	return s.push(h, e)
}

// push appends the entry of the key just appended to keyBuf, and indexes it.
func (s *Snapshot) push(h uint64, e Entry) int {
	if (s.used+1)*2 > len(s.slots) {
		s.rehash(slotsFor(s.live + 1))
	}
	mask := uint64(len(s.slots) - 1)
	j := h & mask
	for s.slots[j] > 0 {
		j = (j + 1) & mask
	}
	return s.pushAt(int(j), h, e)
}

// pushAt is push into a free slot of the index (empty, or deleted) found by a probe.
func (s *Snapshot) pushAt(slot int, h uint64, e Entry) int {
	i := len(s.Entries)
	s.keyEnd = append(s.keyEnd, uint32(len(s.keyBuf)))
	s.Entries = append(s.Entries, e)
	s.hashes = append(s.hashes, h)
	s.live++
	if s.slots[slot] == 0 {
		s.used++
	}
	s.slots[slot] = int32(i + 1)
	return i
}

// probeBytes looks key up in one walk of the index: its position, or -1 and the slot
// an insert would take (the first deleted slot on the way, else the empty one that
// ended it).
func (s *Snapshot) probeBytes(h uint64, key []byte) (pos, free int) {
	mask := uint64(len(s.slots) - 1)
	free = -1
	for i := h & mask; ; i = (i + 1) & mask {
		p := s.slots[i]
		switch {
		case p == 0:
			if free < 0 {
				free = int(i)
			}
			return -1, free
		case p < 0:
			if free < 0 {
				free = int(i)
			}
		case s.hashes[p-1] == h && bytes.Equal(s.keyBytes(int(p-1)), key):
			return int(p - 1), -1
		}
	}
}

// rehash rebuilds the index over the live records with size slots.
func (s *Snapshot) rehash(size int) {
	s.slots = make([]int32, size)
	s.used = 0
	mask := uint64(size - 1)
	for i := range s.Entries {
		if s.Entries[i].gone {
			continue
		}
		j := s.hashes[i] & mask
		for s.slots[j] != 0 {
			j = (j + 1) & mask
		}
		s.slots[j] = int32(i + 1)
		s.used++
	}
}

// removeAt drops the record at position i from the index (its entry stays, gone).
func (s *Snapshot) removeAt(i int) {
	mask := uint64(len(s.slots) - 1)
	for j := s.hashes[i] & mask; ; j = (j + 1) & mask {
		if s.slots[j] == int32(i+1) {
			s.slots[j] = -1
			break
		}
		if s.slots[j] == 0 {
			return // not indexed
		}
	}
	s.Entries[i].gone = true
	s.live--
}

// pack drops gone entries from the arrays (after a load that met tombstones), so that
// every entry the differ sees is a live record.
func (s *Snapshot) pack() {
	n := 0
	end := uint32(0)
	for i := range s.Entries {
		if s.Entries[i].gone {
			continue
		}
		k := s.keyBytes(i) // at or after end: the copy moves keys down only
		end += uint32(copy(s.keyBuf[end:], k))
		s.keyEnd[n], s.Entries[n], s.hashes[n] = end, s.Entries[i], s.hashes[i]
		n++
	}
	s.keyBuf, s.keyEnd, s.Entries, s.hashes = s.keyBuf[:end], s.keyEnd[:n], s.Entries[:n], s.hashes[:n]
	s.rehash(slotsFor(n))
}

// Each visits every live entry (the key is the snapshot's: valid during the call only).
func (s *Snapshot) Each(fn func(key []byte, e *Entry)) {
	for i := range s.Entries {
		if !s.Entries[i].gone {
			fn(s.keyBytes(i), &s.Entries[i])
		}
	}
}

// The disk log: pages numbered from logBase up, in the order they were written; a
// later copy of a key overrides an earlier one, a tombstone removes it. Pages below
// logBase are the old format (a hash of the key chose the page), read once and
// rewritten as a log at the next commit.
const (
	logBase     = int64(1) << 20
	pageRecords = 4096 // records per page written
	legacyPages = 1024
)

const (
	flagTombstone = 1 << iota
	flagSum
)

var errCorrupt = errors.New("snapshot page is damaged")

// encodeRecords writes a page: n, then per record: flags, key length, key, and unless
// a tombstone: fp, ver, at (and sum when flagged).
func (s *Snapshot) encodeRecords(b []byte, idx []int, tombs []string) []byte {
	b = binary.AppendUvarint(b[:0], uint64(len(idx)+len(tombs)))
	for _, i := range idx {
		e := &s.Entries[i]
		var fl byte
		if e.HasSum {
			fl |= flagSum
		}
		b = append(b, fl)
		k := s.keyBytes(i)
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint64(b, e.FP)
		b = binary.LittleEndian.AppendUint64(b, e.Ver)
		b = binary.AppendVarint(b, e.At)
		if e.HasSum {
			b = binary.AppendUvarint(b, uint64(e.Sum))
		}
	}
	for _, k := range tombs {
		b = append(b, flagTombstone)
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// pageBuf holds one page's records while it is decoded: the key bytes gathered into
// one buffer, then applied in order (copied into the snapshot's). It is reused from
// page to page.
type pageBuf struct {
	keys  []byte
	spans []int // end offset of each key in keys
	ents  []Entry
	tombs []bool
}

func (pb *pageBuf) reset() {
	pb.keys, pb.spans, pb.ents, pb.tombs = pb.keys[:0], pb.spans[:0], pb.ents[:0], pb.tombs[:0]
}

func (pb *pageBuf) key(b []byte, off int) (int, error) {
	k, off, err := keyAt(b, off)
	if err != nil {
		return 0, err
	}
	pb.keep(k)
	return off, nil
}

// keep gathers a key into the page's buffer.
func (pb *pageBuf) keep(k []byte) {
	pb.keys = append(pb.keys, k...)
	pb.spans = append(pb.spans, len(pb.keys))
}

// keyAt reads a key (its length, then its bytes) at off: the key, in b, and the
// offset after it.
func keyAt(b []byte, off int) ([]byte, int, error) {
	l, k := binary.Uvarint(b[off:])
	if k <= 0 || uint64(len(b)-off-k) < l {
		return nil, 0, errCorrupt
	}
	off += k
	return b[off : off+int(l)], off + int(l), nil
}

// fields reads fp, ver and at.
func fields(b []byte, off int, e *Entry) (int, error) {
	if len(b)-off < 16 {
		return 0, errCorrupt
	}
	e.FP = binary.LittleEndian.Uint64(b[off:])
	e.Ver = binary.LittleEndian.Uint64(b[off+8:])
	off += 16
	at, k := binary.Varint(b[off:])
	if k <= 0 {
		return 0, errCorrupt
	}
	e.At = at
	return off + k, nil
}

// parseLog reads a log page: n, then per record: flags, key length, key, and unless
// a tombstone: fp, ver, at (and sum when flagged). With want, only the records it
// wants are gathered (the rest are parsed, to check the page, and dropped).
func (pb *pageBuf) parseLog(b []byte, want *keyFilter) error {
	n, off := binary.Uvarint(b)
	if off <= 0 {
		return errCorrupt
	}
	for i := uint64(0); i < n; i++ {
		if off >= len(b) {
			return errCorrupt
		}
		fl := b[off]
		key, next, err := keyAt(b, off+1)
		if err != nil {
			return err
		}
		off = next
		var e Entry
		if fl&flagTombstone == 0 {
			if off, err = fields(b, off, &e); err != nil {
				return err
			}
			if fl&flagSum != 0 {
				sum, k := binary.Uvarint(b[off:])
				if k <= 0 {
					return errCorrupt
				}
				off += k
				e.Sum, e.HasSum = uint32(sum), true
			}
		}
		tomb := fl&flagTombstone != 0
		if want == nil || want.wants(key, e.At, tomb) {
			pb.keep(key)
			pb.ents = append(pb.ents, e)
			pb.tombs = append(pb.tombs, tomb)
		}
	}
	return nil
}

// parseLegacy reads a page of the old format: n, then per entry: key length, key,
// fp, ver, at.
func (pb *pageBuf) parseLegacy(b []byte) error {
	n, off := binary.Uvarint(b)
	if off <= 0 {
		return errCorrupt
	}
	for i := uint64(0); i < n; i++ {
		var err error
		if off, err = pb.key(b, off); err != nil {
			return err
		}
		var e Entry
		if off, err = fields(b, off, &e); err != nil {
			return err
		}
		pb.ents = append(pb.ents, e)
		pb.tombs = append(pb.tombs, false)
	}
	return nil
}

// apply puts the parsed page into the snapshot: a later copy of a key overrides an
// earlier one, a tombstone removes it. It returns how many records tombstones removed.
func (s *Snapshot) applyPage(pb *pageBuf) (removed int) {
	start := 0
	for i, end := range pb.spans {
		key := pb.keys[start:end]
		start = end
		h := maphash.Bytes(seed, key)
		pos, free := s.probeBytes(h, key)
		switch {
		case pb.tombs[i]:
			if pos >= 0 {
				s.removeAt(pos)
				removed++
			}
		case pos >= 0:
			s.Entries[pos] = pb.ents[i]
		case (s.used+1)*2 > len(s.slots):
			s.addBytes(key, h, pb.ents[i]) // the index grows first
		default:
			s.keyBuf = append(s.keyBuf, key...)
			s.pushAt(free, h, pb.ents[i])
		}
	}
	return removed
}

// LoadSnapshot reads an entity's snapshot. It reads the pages' record counts first,
// to size the arrays once, then decodes the pages in the order they were written.
func (s *Store) LoadSnapshot(ctx context.Context, entity string) (*Snapshot, error) {
	total := 0
	err := func() error {
		rows, err := s.db.QueryContext(ctx, `SELECT substr(data, 1, 10) FROM snapshot_pages WHERE entity = ?`, entity)
		if err != nil {
			return err
		}
		defer rows.Close()
		var head []byte
		for rows.Next() {
			if err := rows.Scan(&head); err != nil {
				return err
			}
			n, _ := binary.Uvarint(head)
			total += int(n)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	snap := newSnapshot(entity, total)
	if _, err := s.readLog(ctx, snap, nil); err != nil {
		return nil, err
	}
	return snap, nil
}

// readLog applies the entity's pages to snap in the order they were written — with
// want, only the records it takes. It returns false, having read nothing more, at a
// page of the old format when want is set (only a whole load reads those).
func (s *Store) readLog(ctx context.Context, snap *Snapshot, want *keyFilter) (bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT page, data FROM snapshot_pages WHERE entity = ? ORDER BY page`, snap.Entity)
	if err != nil {
		return false, fmt.Errorf("state store: load %s snapshot: %w", snap.Entity, err)
	}
	defer rows.Close()
	var page int64
	var data sql.RawBytes
	var pb pageBuf
	tombstones := 0
	for rows.Next() {
		if err := rows.Scan(&page, &data); err != nil {
			return false, fmt.Errorf("state store: load %s snapshot: %w", snap.Entity, err)
		}
		pb.reset()
		if page < logBase {
			if want != nil {
				return false, nil
			}
			snap.legacy = true
			err = pb.parseLegacy(data)
		} else {
			err = pb.parseLog(data, want)
			snap.nextPage = page + 1
		}
		if err != nil {
			return false, fmt.Errorf("state store %s: %s snapshot page %d: %w; delete the state store to rebuild it (the next poll resends everything)", s.path, snap.Entity, page, err)
		}
		snap.diskRows += pageCount(data)
		tombstones += snap.applyPage(&pb)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("state store: load %s snapshot: %w", snap.Entity, err)
	}
	if tombstones > 0 {
		snap.pack()
	}
	return true, nil
}

// SnapshotCount returns the number of records of an entity in the snapshot.
func (s *Store) SnapshotCount(ctx context.Context, entity string) (int, error) {
	snap, err := s.LoadSnapshot(ctx, entity)
	if err != nil {
		return 0, err
	}
	return snap.Len(), nil
}

// apply puts and removes into the in-memory snapshot; it returns the positions of the
// records written and the keys removed.
func (snap *Snapshot) apply(c *Change) (written []int, removed []string) {
	for _, p := range c.Puts {
		h := maphash.String(seed, p.Key)
		e := p.Entry
		e.Seen, e.gone = false, false
		if i := snap.find(h, p.Key); i >= 0 {
			e.Seen = snap.Entries[i].Seen
			snap.Entries[i] = e
			written = append(written, i)
			continue
		}
		written = append(written, snap.add(p.Key, h, e))
	}
	for _, k := range c.Removes {
		if i := snap.Pos(k); i >= 0 {
			snap.removeAt(i)
			removed = append(removed, k)
		}
	}
	return written, removed
}

// needsCompaction reports whether the log, after appending n more records, holds so
// many stale copies and tombstones that it should be rewritten.
func (snap *Snapshot) needsCompaction(n int) bool {
	return !snap.partial && snap.compactionDue(snap.live, n)
}

// compactionDue reports whether a log of live records would hold too many stale
// copies and tombstones after n more are appended.
func (snap *Snapshot) compactionDue(live, n int) bool {
	return snap.legacy || snap.diskRows+n > live+live/2+pageRecords
}

// snapshotWrite is what a change writes to the snapshot log: the written records and
// tombstones of the removed ones as new pages, encoded when the change is prepared;
// or, when the log holds too many stale copies (or is of the old format), a rewrite
// of the entity's pages from scratch, encoded while they are written — a whole
// snapshot is not held twice in memory — and so read from the snapshot then
// (Prepared.Sync).
type snapshotWrite struct {
	snap    *Snapshot
	pages   []logPage
	rewrite bool
	live    []int // a rewrite: the records to write
	first   int64 // a rewrite: its first page
}

type logPage struct {
	page int64
	data []byte
}

// prepareWrite applies c to snap and encodes what it writes to the log (nil: nothing).
// The snapshot's page counters move now, in the order the writes will run.
func (snap *Snapshot) prepareWrite(c *Change) *snapshotWrite {
	written, removed := snap.apply(c)
	if len(written) == 0 && len(removed) == 0 {
		return nil
	}
	w := &snapshotWrite{snap: snap}
	if snap.needsCompaction(len(written) + len(removed)) {
		w.rewrite = true
		for i := range snap.Entries {
			if !snap.Entries[i].gone {
				w.live = append(w.live, i)
			}
		}
		snap.legacy, w.first = false, logBase
		snap.nextPage = logBase + int64((len(w.live)+pageRecords-1)/pageRecords)
		snap.diskRows = len(w.live)
		return w
	}
	add := func(idx []int, tombs []string) {
		w.pages = append(w.pages, logPage{page: snap.nextPage, data: snap.encodeRecords(nil, idx, tombs)})
		snap.nextPage++
		snap.diskRows += len(idx) + len(tombs)
	}
	for start := 0; start < len(written); start += pageRecords {
		add(written[start:min(start+pageRecords, len(written))], nil)
	}
	for start := 0; start < len(removed); start += pageRecords {
		add(nil, removed[start:min(start+pageRecords, len(removed))])
	}
	return w
}

// exec writes the pages in tx.
func (w *snapshotWrite) exec(ctx context.Context, tx *sql.Tx) error {
	put, err := tx.PrepareContext(ctx, `INSERT INTO snapshot_pages(entity, page, data) VALUES(?, ?, ?)
ON CONFLICT(entity, page) DO UPDATE SET data = excluded.data`)
	if err != nil {
		return err
	}
	defer put.Close()
	entity := w.snap.Entity
	if !w.rewrite {
		for _, pg := range w.pages {
			if _, err := put.ExecContext(ctx, entity, pg.page, pg.data); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_pages WHERE entity = ?`, entity); err != nil {
		return err
	}
	var buf []byte
	for start, page := 0, w.first; start < len(w.live); start, page = start+pageRecords, page+1 {
		buf = w.snap.encodeRecords(buf, w.live[start:min(start+pageRecords, len(w.live))], nil)
		if _, err := put.ExecContext(ctx, entity, page, buf); err != nil {
			return err
		}
	}
	return nil
}

// summaryOf is what a change stores as the snapshot's summary: store reports whether
// it touches the stored one at all, sum is the new one (nil drops it, which no longer
// describes a snapshot written without Summarize).
func summaryOf(snap *Snapshot, c *Change) (sum []byte, store bool) {
	if c.Summarize != nil {
		return c.Summarize(snap), true
	}
	return nil, len(c.Puts) > 0 || len(c.Removes) > 0
}

// writeSummary stores (or drops, when sum is nil) the entity's snapshot summary.
func writeSummary(ctx context.Context, tx *sql.Tx, entity string, sum []byte) error {
	if sum == nil {
		_, err := tx.ExecContext(ctx, `DELETE FROM snapshot_summaries WHERE entity = ?`, entity)
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO snapshot_summaries(entity, data) VALUES(?, ?)
ON CONFLICT(entity) DO UPDATE SET data = excluded.data`, entity, sum)
	return err
}

// LoadSummary returns the summary stored with an entity's snapshot (Change.Summarize),
// or nil when there is none.
func (s *Store) LoadSummary(ctx context.Context, entity string) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM snapshot_summaries WHERE entity = ?`, entity).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state store: load %s snapshot summary: %w", entity, err)
	}
	return data, nil
}
