package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"testing"
)

func pageStats(t *testing.T, s *Store, entity string) (pages int, bytes int64) {
	t.Helper()
	if err := s.db.QueryRowContext(context.Background(), `SELECT count(*), coalesce(sum(length(data)), 0) FROM snapshot_pages WHERE entity = ?`, entity).Scan(&pages, &bytes); err != nil {
		t.Fatal(err)
	}
	return pages, bytes
}

// TestSnapshotLogWritesWhatChanged: a commit of 1% changes appends about 1% of the
// snapshot (it never rewrites the whole), removals survive a reload as tombstones,
// and the log is compacted once stale copies pile up, with the same records.
func TestSnapshotLogWritesWhatChanged(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 20000
	c := &Change{Entity: "appointment"}
	for i := 0; i < n; i++ {
		e := Entry{FP: uint64(i), Ver: 1, At: int64(i)}
		if i%2 == 0 {
			e.Sum, e.HasSum = uint32(i)*2654435761, true
		}
		c.Puts = append(c.Puts, Put{Key: fmt.Sprint(i), Entry: e})
	}
	if err := s.Commit(ctx, nil, c); err != nil {
		t.Fatal(err)
	}
	_, full := pageStats(t, s, "appointment")
	want := map[string]Entry{}
	for i := 0; i < n; i++ {
		want[fmt.Sprint(i)] = c.Puts[i].Entry
	}
	for round := 1; round <= 80; round++ {
		snap, err := s.LoadSnapshot(ctx, "appointment")
		if err != nil {
			t.Fatal(err)
		}
		check(t, snap, want)
		pagesBefore, bytesBefore := pageStats(t, s, "appointment")
		c := &Change{Entity: "appointment"}
		for i := round; i < n; i += 100 { // 1%
			k := fmt.Sprint(i)
			e := Entry{FP: uint64(i * round), Ver: uint64(round), At: int64(i)}
			c.Puts = append(c.Puts, Put{Key: k, Entry: e})
			want[k] = e
		}
		gone := fmt.Sprint(round * 7)
		c.Removes = append(c.Removes, gone)
		delete(want, gone)
		if err := s.Commit(ctx, snap, c); err != nil {
			t.Fatal(err)
		}
		pagesAfter, bytesAfter := pageStats(t, s, "appointment")
		if grew := bytesAfter - bytesBefore; pagesAfter > pagesBefore && grew > full/20 {
			t.Fatalf("round %d: a 1%% change wrote %d bytes more, the snapshot is %d", round, grew, full)
		}
		if bytesAfter > 2*full {
			t.Fatalf("round %d: the log is %d bytes for a snapshot of %d: not compacted", round, bytesAfter, full)
		}
	}
	snap, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		t.Fatal(err)
	}
	check(t, snap, want)
}

func check(t *testing.T, snap *Snapshot, want map[string]Entry) {
	t.Helper()
	if snap.Len() != len(want) || len(snap.Entries) != len(want) {
		t.Fatalf("snapshot has %d records (%d entries), want %d", snap.Len(), len(snap.Entries), len(want))
	}
	for k, w := range want {
		e := snap.Get(k)
		if e == nil || e.FP != w.FP || e.Ver != w.Ver || e.At != w.At || e.HasSum != w.HasSum || e.Sum != w.Sum {
			t.Fatalf("%s: %+v, want %+v", k, e, w)
		}
	}
}

// TestSnapshotLegacyPages: a state store written by an older medsync (hash-chosen
// pages) loads, and its next commit rewrites it as a log with every record kept.
func TestSnapshotLegacyPages(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]Entry{}
	pages := map[int][]byte{}
	for i := 0; i < 3000; i++ {
		k := fmt.Sprintf("K%d", i)
		e := Entry{FP: uint64(i) + 5, Ver: uint64(i), At: int64(-i)}
		want[k] = e
		p := i % 7
		b := pages[p]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint64(b, e.FP)
		b = binary.LittleEndian.AppendUint64(b, e.Ver)
		b = binary.AppendVarint(b, e.At)
		pages[p] = b
	}
	for p, b := range pages {
		n := 0
		for i := p; i < 3000; i += 7 {
			n++
		}
		data := append(binary.AppendUvarint(nil, uint64(n)), b...)
		if _, err := s.db.ExecContext(ctx, `INSERT INTO snapshot_pages(entity, page, data) VALUES('doctor', ?, ?)`, p, data); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := s.LoadSnapshot(ctx, "doctor")
	if err != nil {
		t.Fatal(err)
	}
	check(t, snap, want)
	want["new"] = Entry{FP: 1}
	if err := s.Commit(ctx, snap, &Change{Entity: "doctor", Puts: []Put{{Key: "new", Entry: Entry{FP: 1}}}}); err != nil {
		t.Fatal(err)
	}
	var legacy int
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM snapshot_pages WHERE entity = 'doctor' AND page < ?`, logBase).Scan(&legacy)
	if legacy != 0 {
		t.Fatalf("%d pages of the old format left after a commit", legacy)
	}
	again, err := s.LoadSnapshot(ctx, "doctor")
	if err != nil {
		t.Fatal(err)
	}
	check(t, again, want)
}

// TestSnapshotReserve: reserving room keeps every record findable, and records added
// within the reservation move no array.
func TestSnapshotReserve(t *testing.T) {
	s := newSnapshot("appointment", 0)
	for i := 0; i < 100; i++ {
		s.add(fmt.Sprint(i), seedHash(fmt.Sprint(i)), Entry{FP: uint64(i)})
	}
	s.Reserve(5000)
	entries := &s.Entries[:1][0]
	for i := 100; i < 5000; i++ {
		s.add(fmt.Sprint(i), seedHash(fmt.Sprint(i)), Entry{FP: uint64(i)})
	}
	if &s.Entries[0] != entries {
		t.Error("adding within the reservation moved the entries")
	}
	for i := 0; i < 5000; i++ {
		if e := s.Get(fmt.Sprint(i)); e == nil || e.FP != uint64(i) {
			t.Fatalf("record %d: %+v after Reserve", i, e)
		}
	}
	if s.Get("5000") != nil || s.Len() != 5000 {
		t.Errorf("Len %d, or a record never added is found", s.Len())
	}
}

func seedHash(key string) uint64 { return maphash.String(seed, key) }

// TestPrepareAheadOfWrite: a big read prepares its next chunk (applied to the
// snapshot in memory) while the previous one is written. Each write stores what its
// own Prepare encoded, whatever the snapshot became since: after the writes, in
// order, the snapshot on disk is the one in memory, events and all. A change that
// rewrites the whole log reads the snapshot while it is written: Sync says so.
func TestPrepareAheadOfWrite(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Entry{}
	var preps []*Prepared
	events := 0
	for chunk := 0; chunk < 6; chunk++ {
		c := &Change{Entity: "appointment", Batch: map[string]int{"file": 100}, Poll: "p1"}
		for i := chunk * 1000; i < (chunk+1)*1000; i++ {
			k := fmt.Sprint(i)
			e := Entry{FP: uint64(i), Ver: uint64(chunk + 1), At: int64(i)}
			c.Puts = append(c.Puts, Put{Key: k, Entry: e})
			c.Events = append(c.Events, OutEvent{Connector: "file", Entity: "appointment", Key: k, Op: "upsert", Idem: "i" + k, Fingerprint: "f", Data: []byte(`{}`)})
			want[k] = e
		}
		if chunk > 0 { // a key of the previous chunk read again: its newer entry wins
			k := fmt.Sprint(chunk*1000 - 1)
			e := Entry{FP: 7, Ver: 99}
			c.Puts = append(c.Puts, Put{Key: k, Entry: e})
			want[k] = e
		}
		events += len(c.Events)
		p := Prepare(snap, c)
		if p.Sync() {
			t.Fatalf("chunk %d: appending pages reported as a rewrite", chunk)
		}
		preps = append(preps, p)
		if chunk%2 == 1 { // two chunks prepared for every two written, the second late
			for _, p := range preps {
				if err := s.Write(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			preps = preps[:0]
		}
	}
	check(t, snap, want)
	disk, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		t.Fatal(err)
	}
	check(t, disk, want)
	if q, err := s.QueuedByConnector(ctx); err != nil || q["file"] != events {
		t.Fatalf("queued %v (%v), want %d events for file", q, err, events)
	}
	// Rewrite the same keys until the log is compacted: that change is Sync.
	synced := false
	for round := 0; round < 5 && !synced; round++ {
		c := &Change{Entity: "appointment"}
		for k := range want {
			e := Entry{FP: uint64(round), Ver: uint64(100 + round)}
			c.Puts = append(c.Puts, Put{Key: k, Entry: e})
			want[k] = e
		}
		p := Prepare(disk, c)
		synced = p.Sync()
		if err := s.Write(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if !synced {
		t.Fatal("rewriting every record five times never compacted the log")
	}
	again, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		t.Fatal(err)
	}
	check(t, again, want)
}
