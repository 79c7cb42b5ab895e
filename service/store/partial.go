package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/maphash"
)

// LoadPartial reads the snapshot records of the given keys only: the log's pages are
// read in order as LoadSnapshot reads them, but only those keys' records are applied
// (a later copy overrides an earlier one, a tombstone removes it), so the result is
// exactly what LoadSnapshot would hold for them, and a key the snapshot does not have
// is absent. Nothing is indexed for the other records, which is what makes it cheap
// for a poll that already knows, from the day summaries and the rows changed since
// the last poll, which records it will touch.
//
// The partial snapshot is committed like a whole one; its log is appended to and
// never compacted. ok is false when the log is of the old format (a whole load
// rewrites it).
func (s *Store) LoadPartial(ctx context.Context, entity string, keys []string) (snap *Snapshot, ok bool, err error) {
	want := newKeyFilter(keys)
	snap = newSnapshot(entity, len(want.keys))
	snap.partial = true
	rows, err := s.db.QueryContext(ctx, `SELECT page, data FROM snapshot_pages WHERE entity = ? ORDER BY page`, entity)
	if err != nil {
		return nil, false, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	defer rows.Close()
	var page int64
	var data sql.RawBytes
	var pb pageBuf
	tombstones := 0
	for rows.Next() {
		if err := rows.Scan(&page, &data); err != nil {
			return nil, false, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
		}
		if page < logBase {
			return nil, false, nil
		}
		pb.reset()
		if err := pb.parseLog(data, want); err != nil {
			return nil, false, fmt.Errorf("state store %s: %s snapshot page %d: %w; delete the state store to rebuild it (the next poll resends everything)", s.path, entity, page, err)
		}
		snap.nextPage = page + 1
		snap.diskRows += pageCount(data)
		tombstones += snap.applyPage(&pb)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("state store: load %s snapshot: %w", entity, err)
	}
	if tombstones > 0 {
		snap.pack()
	}
	return snap, true, nil
}

// pageCount is the number of records a page holds (checked by parseLog).
func pageCount(b []byte) int {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return 0
	}
	return int(n)
}

// Partial reports whether the snapshot holds only some keys' records (LoadPartial).
func (s *Snapshot) Partial() bool { return s.partial }

// CompactionDue reports, for a partial snapshot of an entity with live records in
// all, whether appending n more records would leave its log so full of stale copies
// that it should be compacted — which only a whole snapshot's commit does.
func (s *Snapshot) CompactionDue(live, n int) bool { return s.compactionDue(live, n) }

// keyFilter is the set of keys a partial load wants, with a bit per hash in front of
// it: most records of the log are not wanted, and one bit (in a table that stays in
// the CPU's cache) tells most of them so.
type keyFilter struct {
	bits []uint64
	mask uint64
	keys map[string]struct{}
}

func newKeyFilter(keys []string) *keyFilter {
	f := &keyFilter{keys: make(map[string]struct{}, len(keys))}
	size := uint64(1024)
	for size < 16*uint64(len(keys)) {
		size <<= 1
	}
	f.bits, f.mask = make([]uint64, size/64), size-1
	for _, k := range keys {
		f.keys[k] = struct{}{}
		h := maphash.String(seed, k) & f.mask
		f.bits[h>>6] |= 1 << (h & 63)
	}
	return f
}

func (f *keyFilter) has(k []byte) bool {
	h := maphash.Bytes(seed, k) & f.mask
	if f.bits[h>>6]&(1<<(h&63)) == 0 {
		return false
	}
	_, ok := f.keys[string(k)]
	return ok
}
