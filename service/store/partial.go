package store

import (
	"context"
	"encoding/binary"
	"hash/maphash"
)

// PartialFilter says which records a partial load takes: those of Keys, and those of
// every key that has, at some point of the log, a record with its window instant in
// one of Spans ([from, to) in unix seconds). Once a key is taken, every later record
// of it is too (its later copies, its tombstone), so what is loaded of it is its
// current state, whichever span it is in now.
type PartialFilter struct {
	Keys  []string
	Spans [][2]int64
}

// LoadPartial reads the snapshot records the filter takes: the log's pages are read
// in order as LoadSnapshot reads them, but only those records are applied (a later
// copy overrides an earlier one, a tombstone removes it), so the result is exactly
// what LoadSnapshot would hold for those keys — every key whose current record lies
// in a span among them — and a key the snapshot does not have is absent. Nothing is
// indexed for the other records, which is what makes it cheap for a poll that
// already knows, from the day summaries and the rows changed since the last poll,
// which records it will touch.
//
// The partial snapshot is committed like a whole one; its log is appended to and
// never compacted. ok is false when the log is of the old format (a whole load
// rewrites it).
func (s *Store) LoadPartial(ctx context.Context, entity string, f PartialFilter) (snap *Snapshot, ok bool, err error) {
	want := newKeyFilter(f)
	snap = newSnapshot(entity, len(want.keys))
	snap.partial = true
	if ok, err = s.readLog(ctx, snap, want); err != nil || !ok {
		return nil, false, err
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

// keyFilter is what a partial load takes (PartialFilter): the keys taken so far, with
// a bit per hash in front of them — most records of the log are not wanted, and one
// bit (in a table that stays in the CPU's cache) tells most of them so — and the spans.
type keyFilter struct {
	bits  []uint64
	mask  uint64
	keys  map[string]struct{}
	spans [][2]int64
}

func newKeyFilter(f PartialFilter) *keyFilter {
	kf := &keyFilter{keys: make(map[string]struct{}, len(f.Keys)), spans: f.Spans}
	size := uint64(1024)
	for size < 16*uint64(len(f.Keys)) {
		size <<= 1
	}
	kf.bits, kf.mask = make([]uint64, size/64), size-1
	for _, k := range f.Keys {
		kf.add(k)
	}
	return kf
}

func (f *keyFilter) add(k string) {
	f.keys[k] = struct{}{}
	h := maphash.String(seed, k) & f.mask
	f.bits[h>>6] |= 1 << (h & 63)
}

// wants reports whether a record of the log is taken: its key was taken before, or
// it is no tombstone and its instant lies in a span (then its key is taken from now).
func (f *keyFilter) wants(k []byte, at int64, tomb bool) bool {
	h := maphash.Bytes(seed, k) & f.mask
	if f.bits[h>>6]&(1<<(h&63)) != 0 {
		if _, ok := f.keys[string(k)]; ok {
			return true
		}
	}
	if tomb {
		return false
	}
	for _, sp := range f.spans {
		if at >= sp[0] && at < sp[1] {
			f.add(string(k))
			return true
		}
	}
	return false
}
