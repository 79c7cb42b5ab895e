package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestOpenMigratesAndRefusesNewer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version(ctx); v != SchemaVersion {
		t.Fatalf("schema version %d, want %d", v, SchemaVersion)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q (%v), want wal", mode, err)
	}
	// A store written by a newer medsync is refused with advice, not damaged.
	if _, err := s.db.ExecContext(ctx, `PRAGMA user_version = 999`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "newer than this medsync") {
		t.Fatalf("opening a newer store: %v", err)
	}
}

func TestCommitIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	ok := &Change{Entity: "doctor",
		Puts:   []Put{{Key: "1", Entry: Entry{FP: 1}}},
		Events: []OutEvent{{Connector: "c", Entity: "doctor", Key: "1", Op: "upsert", Idem: "k1", Fingerprint: "01", At: now, Data: []byte(`{}`)}}}
	if err := s.Commit(ctx, nil, ok); err != nil {
		t.Fatal(err)
	}
	// A change whose last statement fails leaves neither snapshot nor outbox touched.
	bad := &Change{Entity: "doctor",
		Puts:   []Put{{Key: "2", Entry: Entry{FP: 2}}},
		Events: []OutEvent{{Connector: "c", Entity: "doctor", Key: "2", Op: "upsert", Idem: "k2", Fingerprint: "02", At: now, Data: []byte(`{}`)}}}
	if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER boom BEFORE INSERT ON outbox WHEN NEW.key = '2' BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, nil, bad); err == nil {
		t.Fatal("commit did not fail")
	}
	if n, _ := s.SnapshotCount(ctx, "doctor"); n != 1 {
		t.Fatalf("snapshot has %d rows after a failed commit, want 1", n)
	}
	q, _ := s.Queues(ctx, []string{"c"})
	if q[0].Queued != 1 {
		t.Fatalf("outbox has %d events after a failed commit, want 1", q[0].Queued)
	}
}

func TestSnapshotPagesRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Change{Entity: "patient"}
	for i := 0; i < 5000; i++ {
		c.Puts = append(c.Puts, Put{Key: fmt.Sprintf("P-%d", i), Entry: Entry{FP: uint64(i) * 977, Ver: uint64(i) + 1, At: int64(i) - 2500}})
	}
	if err := s.Commit(ctx, nil, c); err != nil {
		t.Fatal(err)
	}
	snap, err := s.LoadSnapshot(ctx, "patient")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Len() != 5000 {
		t.Fatalf("loaded %d", snap.Len())
	}
	for i := 0; i < 5000; i++ {
		e := snap.Get(fmt.Sprintf("P-%d", i))
		if e == nil || e.FP != uint64(i)*977 || e.Ver != uint64(i)+1 || e.At != int64(i)-2500 {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	// Remove some, change some, add some, through the loaded snapshot.
	c = &Change{Entity: "patient", Removes: []string{"P-1", "P-2", "nope"},
		Puts: []Put{{Key: "P-3", Entry: Entry{FP: 1}}, {Key: "new", Entry: Entry{FP: 2}}}}
	if err := s.Commit(ctx, snap, c); err != nil {
		t.Fatal(err)
	}
	again, err := s.LoadSnapshot(ctx, "patient")
	if err != nil {
		t.Fatal(err)
	}
	if again.Len() != 4999 || again.Get("P-1") != nil || again.Get("P-3").FP != 1 || again.Get("new").FP != 2 || again.Get("P-4").FP != 4*977 {
		t.Fatalf("after change: len %d", again.Len())
	}
	// Other entities are untouched by this one's pages.
	if n, _ := s.SnapshotCount(ctx, "doctor"); n != 0 {
		t.Fatalf("doctor snapshot has %d", n)
	}
}

// TestSnapshotHashCollision puts two keys with one index hash: both stay reachable,
// and removing either leaves the other.
func TestSnapshotHashCollision(t *testing.T) {
	s := newSnapshot("doctor", 2)
	s.add("a", 7, Entry{FP: 1})
	s.add("b", 7, Entry{FP: 2})
	if i := s.find(7, "a"); i < 0 || s.Entries[i].FP != 1 {
		t.Fatal("a not reachable")
	}
	if i := s.findBytes(7, []byte("b")); i < 0 || s.Entries[i].FP != 2 || s.Len() != 2 {
		t.Fatal("b not reachable")
	}
	s.removeAt(s.find(7, "a"))
	if s.find(7, "a") >= 0 || s.find(7, "b") < 0 || s.Len() != 1 {
		t.Fatal("removing one of the colliding keys")
	}
	if s.Get("zzz") != nil || s.GetBytes([]byte("zzz")) != nil {
		t.Fatal("a missing key was found")
	}
}

// TestCompactShrinksTheFile queues many events, delivers them, and compacts: the file
// gives the space back.
func TestCompactShrinksTheFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := &Change{Entity: "appointment"}
	payload := []byte(`{"comment":"` + strings.Repeat("х", 400) + `"}`)
	for i := 0; i < 5000; i++ {
		k := fmt.Sprint(i)
		c.Events = append(c.Events, OutEvent{Connector: "c", Entity: "appointment", Key: k, Op: "upsert", Idem: k, Fingerprint: "1", At: time.Now(), Data: payload})
	}
	if err := s.Commit(ctx, nil, c); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		var pages, pageSize int64
		s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages)
		s.db.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize)
		return pages * pageSize
	}
	full := size()
	var outs []Outcome
	evs, err := s.Due(ctx, "c", time.Now(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		outs = append(outs, Outcome{Seq: e.Seq, Idem: e.IdempotencyKey, Result: OutcomeAcked})
	}
	if err := s.Record(ctx, "c", outs); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if after := size(); after > full/4 {
		t.Fatalf("after delivery and compaction the store is %d bytes, was %d", after, full)
	}
}
