package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func openWith(t *testing.T, dir string, o BackupOptions) *Store {
	t.Helper()
	s, err := OpenWith(context.Background(), dir, Options{Backup: o})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBackupKeepsNSortableByTime: backups are named so that they sort by time, only
// the newest Keep stay, and each one is a whole store with the data of its moment.
func TestBackupKeepsNSortableByTime(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bdir := filepath.Join(t.TempDir(), "elsewhere")
	s := openWith(t, dir, BackupOptions{Dir: bdir, Keep: 3})
	defer s.Close()
	var made []BackupInfo
	for i := range 5 {
		if err := s.SetMeta(ctx, "n", string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		b, err := s.Backup(ctx, "manual")
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, b)
		time.Sleep(2 * time.Millisecond) // distinct names (millisecond stamps)
	}
	list, err := Backups(dir, BackupOptions{Dir: bdir})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[2].Path != made[4].Path || list[0].Path != made[2].Path {
		t.Fatalf("kept %+v", list)
	}
	for _, b := range list {
		if !strings.HasPrefix(filepath.Base(b.Path), "medsync-state-") || b.Reason != "manual" || b.Size == 0 {
			t.Errorf("backup %+v", b)
		}
	}
	// The newest backup holds the newest value, and passes the full check.
	if err := verifyFile(ctx, list[2].Path, true); err != nil {
		t.Fatal(err)
	}
}

// TestBackupBeforeMigration: opening a store of an older schema makes a backup first,
// and the backup keeps the old schema.
func TestBackupBeforeMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	openWith(t, dir, BackupOptions{}).Close()
	saved := migrations
	defer func() { migrations = saved }()
	migrations = append(append([]string{}, saved...), `CREATE TABLE test_added (x INTEGER)`)
	s := openWith(t, dir, BackupOptions{})
	defer s.Close()
	list, err := Backups(dir, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "before-migration-v" + strconv.Itoa(len(migrations)); len(list) != 1 || list[0].Reason != want {
		t.Fatalf("backups %+v, want one %s", list, want)
	}
	_, v, err := checkFile(ctx, list[0].Path, true)
	if err != nil || v != len(saved) {
		t.Fatalf("backup has schema version %d (%v), want %d", v, err, len(saved))
	}
}

// TestRestoreFromTheLatestValidBackup: a damaged store is refused with the advice to
// restore (not to delete); restore puts back the newest backup that checks out
// (skipping a damaged one), keeps the damaged store aside, and needs the lock.
func TestRestoreFromTheLatestValidBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, BackupOptions{})
	if err := s.SetMeta(ctx, "state", "good"); err != nil {
		t.Fatal(err)
	}
	good, err := s.Backup(ctx, "manual")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	newer, err := s.Backup(ctx, "manual")
	if err != nil {
		t.Fatal(err)
	}
	// Restore refuses while the store is open (the lock).
	if _, err := Restore(ctx, dir, BackupOptions{}, ""); !errors.Is(err, ErrLocked) {
		t.Fatalf("restore beside an open store: %v", err)
	}
	s.Close()

	// Damage the newest backup and the store itself.
	damage(t, newer.Path)
	damage(t, filepath.Join(dir, FileName))
	_, err = Open(ctx, dir)
	if FaultOf(err) != FaultCorrupt || !strings.Contains(err.Error(), "medsync state restore") || strings.Contains(err.Error(), "can be deleted") {
		t.Fatalf("opening a damaged store: %v", err)
	}
	cr, err := Check(ctx, dir, BackupOptions{})
	if err != nil || len(cr.Problems) == 0 {
		t.Fatalf("check of a damaged store: %+v %v", cr, err)
	}

	from, err := Restore(ctx, dir, BackupOptions{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if from.Path != good.Path {
		t.Fatalf("restored %s, want %s (the newest one that checks out)", from.Path, good.Path)
	}
	s = openWith(t, dir, BackupOptions{})
	defer s.Close()
	if v, _ := s.GetMeta(ctx, "state"); v != "good" {
		t.Fatalf("restored store has state %q", v)
	}
	if v, _ := s.GetMeta(ctx, "restored_from"); !strings.Contains(v, filepath.Base(good.Path)) {
		t.Fatalf("restored_from %q", v)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, DefaultBackupDir, "replaced-*-"+FileName))
	if len(aside) != 1 {
		t.Fatalf("the damaged store was not kept aside: %v", aside)
	}
	// state check runs beside the open store, read-only.
	if cr, err = Check(ctx, dir, BackupOptions{}); err != nil || len(cr.Problems) != 0 || len(cr.Backups) != 2 {
		t.Fatalf("check beside the open store: %+v %v", cr, err)
	}
}

// damage overwrites the middle of a file with garbage, past the SQLite header.
func damage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < len(b); i++ {
		b[i] = 0xA5
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(path + "-wal")
	_ = os.Remove(path + "-shm")
}

// TestFaultMessages: each kind of fault gets its own meaning and advice, and only a
// damaged store is told to restore; none is told to delete the store.
func TestFaultMessages(t *testing.T) {
	ctx := context.Background()
	// Corrupt, for real: not an SQLite file at all.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("not a database ", 400)), 0o640); err != nil {
		t.Fatal(err)
	}
	_, corrupt := Open(ctx, dir)
	// Busy, for real: the lock of another open.
	dir2 := t.TempDir()
	s := openWith(t, dir2, BackupOptions{})
	defer s.Close()
	_, busy := Open(ctx, dir2)
	// Permission and disk full as the OS reports them (tests run as root here, which
	// no file mode stops; a full disk cannot be made without privileges).
	perm := Classify(&fs.PathError{Op: "open", Path: "/x/state/medsync-state.db", Err: syscall.EACCES})
	full := Classify(&fs.PathError{Op: "write", Path: "/x/state/medsync-state.db", Err: syscall.ENOSPC})
	cases := []struct {
		err   error
		fault Fault
		want  string
	}{
		{corrupt, FaultCorrupt, "medsync state restore"},
		{busy, FaultBusy, "held by pid"},
		{perm, FaultPermission, "may not read or write"},
		{full, FaultDiskFull, "Free space"},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Fatalf("no error for %v", c.fault)
		}
		if FaultOf(c.err) != c.fault || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%v: %v", c.fault, c.err)
		}
		if strings.Contains(c.err.Error(), "can be deleted") || strings.Contains(c.err.Error(), "it is rebuilt") {
			t.Errorf("%v still advises deleting the store: %v", c.fault, c.err)
		}
		if c.fault != FaultCorrupt && strings.Contains(c.err.Error(), "state restore") {
			t.Errorf("%v advises a restore: %v", c.fault, c.err)
		}
	}
}

// TestExplainOnlyKnownFaults: errors met at run time get advice only for a known
// fault; a cancelled context stays as it is.
func TestExplainOnlyKnownFaults(t *testing.T) {
	if err := Explain(context.Canceled); err != context.Canceled {
		t.Fatalf("Explain(context.Canceled) = %v", err)
	}
	full := Explain(fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}))
	if FaultOf(full) != FaultDiskFull || !strings.Contains(full.Error(), "disk full") {
		t.Fatalf("Explain(ENOSPC) = %v", full)
	}
}

// TestScheduledBackup: BackupIfDue makes a backup when there is none or the newest is
// older than Every, and none otherwise; Off makes none.
func TestScheduledBackup(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	s := openWith(t, dir, BackupOptions{Every: time.Hour})
	defer s.Close()
	s.BackupIfDue(context.Background(), log)
	s.BackupIfDue(context.Background(), log)
	list, _ := Backups(dir, BackupOptions{})
	if len(list) != 1 || list[0].Reason != "scheduled" {
		t.Fatalf("after two checks within the hour: %+v", list)
	}
	// The newest backup is two hours old: the next check makes one.
	old := filepath.Join(filepath.Dir(list[0].Path), backupPrefix(s.path)+time.Now().UTC().Add(-2*time.Hour).Format(backupStamp)+"-scheduled.db")
	if err := os.Rename(list[0].Path, old); err != nil {
		t.Fatal(err)
	}
	s.BackupIfDue(context.Background(), log)
	if list, _ = Backups(dir, BackupOptions{}); len(list) != 2 {
		t.Fatalf("an old backup did not trigger a new one: %+v", list)
	}

	dir2 := t.TempDir()
	off := openWith(t, dir2, BackupOptions{Off: true})
	defer off.Close()
	off.BackupIfDue(context.Background(), log)
	if list, _ := Backups(dir2, BackupOptions{}); len(list) != 0 {
		t.Fatalf("backup_every = 0 made %+v", list)
	}
}

// TestNoBlindRebuild: a deleted store with backups left is not rebuilt from nothing:
// opening says to restore; the restore then works.
func TestNoBlindRebuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openWith(t, dir, BackupOptions{})
	if _, err := s.Backup(ctx, "manual"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(filepath.Join(dir, FileName) + suffix)
	}
	_, err := Open(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "is missing, but 1 backups") || !strings.Contains(err.Error(), "medsync state restore") {
		t.Fatalf("open of a deleted store with backups: %v", err)
	}
	if _, err := Restore(ctx, dir, BackupOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	openWith(t, dir, BackupOptions{}).Close()
}
