package store

import (
	"context"
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
	if err := s.Commit(ctx, ok); err != nil {
		t.Fatal(err)
	}
	// A change whose last statement fails leaves neither snapshot nor outbox touched.
	bad := &Change{Entity: "doctor",
		Puts:   []Put{{Key: "2", Entry: Entry{FP: 2}}},
		Events: []OutEvent{{Connector: "c", Entity: "doctor", Key: "2", Op: "upsert", Idem: "k2", Fingerprint: "02", At: now, Data: []byte(`{}`)}}}
	if _, err := s.db.ExecContext(ctx, `CREATE TRIGGER boom BEFORE INSERT ON outbox WHEN NEW.key = '2' BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, bad); err == nil {
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
