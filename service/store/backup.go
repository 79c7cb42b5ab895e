package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Backup defaults ([service] backup_every, backup_keep, backup_dir).
const (
	DefaultBackupEvery = 24 * time.Hour
	DefaultBackupKeep  = 7
	DefaultBackupDir   = "backups" // inside the state directory
)

// BackupOptions configure the state store's backups.
type BackupOptions struct {
	Dir   string        // folder of the backups; default <state dir>/backups
	Keep  int           // how many backups of a file are kept (the newest); default 7
	Every time.Duration // scheduled backups; 0 with Off: none
	Off   bool          // no scheduled backups (the one before a migration is still made)
}

func (o BackupOptions) withDefaults(stateDir string) BackupOptions {
	if o.Dir == "" {
		o.Dir = filepath.Join(stateDir, DefaultBackupDir)
	}
	if o.Keep <= 0 {
		o.Keep = DefaultBackupKeep
	}
	if o.Every <= 0 && !o.Off {
		o.Every = DefaultBackupEvery
	}
	return o
}

// BackupInfo is one backup file.
type BackupInfo struct {
	Path   string
	Time   time.Time // when it was made (from its name)
	Reason string    // scheduled, manual, before-migration-vN, before-restore
	Size   int64
}

// backupStamp is the time in a backup's name: UTC, so that names sort by time.
const backupStamp = "20060102T150405.000Z"

// backupPrefix is how the backups of the file at path begin: "medsync-state-".
func backupPrefix(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + "-"
}

// Backup makes a backup of the open store now (reason: "scheduled", "manual", …),
// keeps the newest Keep and returns the new one. It reads through a connection of its
// own, so polls and deliveries go on meanwhile.
func (s *Store) Backup(ctx context.Context, reason string) (BackupInfo, error) {
	return backupFile(ctx, s.path, s.backup, reason)
}

// BackupDir makes a backup of the state store of stateDir without opening it for
// writing: `medsync state backup` runs this way alongside the service.
func BackupDir(ctx context.Context, stateDir string, o BackupOptions, reason string) (BackupInfo, error) {
	path := filepath.Join(stateDir, FileName)
	if _, err := os.Stat(path); err != nil {
		return BackupInfo{}, classifyAt(path, fmt.Errorf("state store: %w", err))
	}
	return backupFile(ctx, path, o.withDefaults(stateDir), reason)
}

// backupFile copies the SQLite file at path into o.Dir with VACUUM INTO: one
// statement, reading one consistent snapshot of the database (WAL included) while
// writers go on, and writing a compact file with no WAL of its own. The copy is
// written under a temporary name, checked (quick_check) and only then given its final
// name, so a backup that exists is whole. Then the oldest beyond o.Keep are removed.
func backupFile(ctx context.Context, path string, o BackupOptions, reason string) (BackupInfo, error) {
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return BackupInfo{}, classifyAt(o.Dir, fmt.Errorf("state store backup: cannot create the folder %s: %w", o.Dir, err))
	}
	now := time.Now().UTC()
	final := filepath.Join(o.Dir, backupPrefix(path)+now.Format(backupStamp)+"-"+reason+".db")
	tmp := final + ".tmp"
	_ = os.Remove(tmp)
	src, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return BackupInfo{}, classifyAt(path, err)
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, classifyAt(path, fmt.Errorf("state store backup of %s into %s: %w", path, o.Dir, err))
	}
	if err := verifyFile(ctx, tmp, false); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, fmt.Errorf("state store backup of %s: the copy does not check out: %w", path, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, classifyAt(final, fmt.Errorf("state store backup: %w", err))
	}
	st, _ := os.Stat(final)
	info := BackupInfo{Path: final, Time: now.Truncate(time.Millisecond), Reason: reason}
	if st != nil {
		info.Size = st.Size()
	}
	if err := prune(path, o); err != nil {
		return info, fmt.Errorf("state store backup made (%s), but old backups could not be removed: %w", final, err)
	}
	return info, nil
}

// prune removes the oldest backups of path beyond o.Keep.
func prune(path string, o BackupOptions) error {
	list, err := listBackups(path, o.Dir)
	if err != nil {
		return err
	}
	var errs []error
	for len(list) > o.Keep {
		if err := os.Remove(list[0].Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		list = list[1:]
	}
	return errors.Join(errs...)
}

// Backups lists the state store backups in o.Dir (default <stateDir>/backups), oldest
// first.
func Backups(stateDir string, o BackupOptions) ([]BackupInfo, error) {
	o = o.withDefaults(stateDir)
	return listBackups(filepath.Join(stateDir, FileName), o.Dir)
}

func listBackups(path, dir string) ([]BackupInfo, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, classifyAt(dir, fmt.Errorf("state store backups: %w", err))
	}
	prefix := backupPrefix(path)
	var out []BackupInfo
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || !strings.HasSuffix(name, ".db") || e.IsDir() || len(rest) < len(backupStamp)+1 {
			continue
		}
		t, err := time.Parse(backupStamp, rest[:len(backupStamp)])
		if err != nil {
			continue
		}
		b := BackupInfo{Path: filepath.Join(dir, name), Time: t, Reason: strings.TrimSuffix(strings.TrimPrefix(rest[len(backupStamp):], "-"), ".db")}
		if fi, err := e.Info(); err == nil {
			b.Size = fi.Size()
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// verifyFile checks that path is a whole SQLite database of a medsync state store this
// build can open: integrity_check when full, else quick_check.
func verifyFile(ctx context.Context, path string, full bool) error {
	problems, version, err := checkFile(ctx, path, full)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return &Error{Fault: FaultCorrupt, Path: path, Err: fmt.Errorf("%s: %s", path, strings.Join(problems, "; "))}
	}
	if version > len(migrations) {
		return fmt.Errorf("%s has schema version %d, newer than this medsync (%d)", path, version, len(migrations))
	}
	return nil
}

// checkFile runs SQLite's integrity check (or quick check) on path, read-only, and
// returns the problems it reports (none: whole) and the schema version.
func checkFile(ctx context.Context, path string, full bool) (problems []string, version int, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, 0, classifyAt(path, err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, 0, classifyAt(path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	pragma := "quick_check"
	if full {
		pragma = "integrity_check"
	}
	rows, err := db.QueryContext(ctx, `PRAGMA `+pragma)
	if err != nil {
		if FaultOf(err) == FaultCorrupt {
			return []string{err.Error()}, 0, nil
		}
		return nil, 0, classifyAt(path, fmt.Errorf("%s: %w", path, err))
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return nil, 0, classifyAt(path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		if FaultOf(err) == FaultCorrupt {
			return append(problems, err.Error()), 0, nil
		}
		return nil, 0, classifyAt(path, err)
	}
	rows.Close()
	if len(problems) > 0 {
		return problems, 0, nil
	}
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return nil, 0, classifyAt(path, err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'outbox')`).Scan(&tables); err != nil {
		return nil, 0, classifyAt(path, err)
	}
	if version > 0 && tables < 2 {
		problems = append(problems, "not a medsync state store (no meta and outbox tables)")
	}
	return problems, version, nil
}

// CheckResult is what `medsync state check` reports.
type CheckResult struct {
	Path     string
	Problems []string // from SQLite's integrity_check; empty when whole
	Version  int
	Backups  []BackupInfo
}

// Check runs SQLite's full integrity check on the state store of stateDir (read-only:
// it may run alongside the service) and lists its backups.
func Check(ctx context.Context, stateDir string, o BackupOptions) (*CheckResult, error) {
	r := &CheckResult{Path: filepath.Join(stateDir, FileName)}
	var err error
	if r.Problems, r.Version, err = checkFile(ctx, r.Path, true); err != nil {
		return nil, err
	}
	r.Backups, err = Backups(stateDir, o)
	return r, err
}

// Restore replaces the state store of stateDir with a backup: file, or when empty the
// newest backup that passes the integrity check. It takes the state directory's lock,
// so it refuses while the service (or any other medsync) uses the store. The store it
// replaces is kept in the backups folder as replaced-….db (with its -wal and -shm).
// After a restore the next poll compares the MIS with the backup's snapshot: records
// changed or deleted since the backup are sent again or deleted then, as in any poll.
func Restore(ctx context.Context, stateDir string, o BackupOptions, file string) (BackupInfo, error) {
	o = o.withDefaults(stateDir)
	lock, err := Lock(stateDir)
	if err != nil {
		return BackupInfo{}, err
	}
	defer lock.Release()
	from, err := pickBackup(ctx, stateDir, o, file)
	if err != nil {
		return BackupInfo{}, err
	}
	path := filepath.Join(stateDir, FileName)
	if err := setAside(path, o.Dir); err != nil {
		return BackupInfo{}, err
	}
	tmp := path + ".restore.tmp"
	if err := copyFile(from.Path, tmp); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, classifyAt(path, fmt.Errorf("state store restore: copying %s: %w", from.Path, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return BackupInfo{}, classifyAt(path, fmt.Errorf("state store restore: %w", err))
	}
	// Open it once (the lock is ours already): migrations of an older backup run now,
	// and the restore is noted in the store.
	db, err := openSQLite(ctx, path, migrations, o)
	if err != nil {
		return from, err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES('restored_from', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
		filepath.Base(from.Path)+" at "+time.Now().UTC().Format(time.RFC3339))
	return from, classifyAt(path, err)
}

// pickBackup returns file when it checks out, else the newest backup that does.
func pickBackup(ctx context.Context, stateDir string, o BackupOptions, file string) (BackupInfo, error) {
	if file != "" {
		if err := verifyFile(ctx, file, true); err != nil {
			return BackupInfo{}, fmt.Errorf("state store restore: %s cannot be restored: %w", file, err)
		}
		b := BackupInfo{Path: file}
		if fi, err := os.Stat(file); err == nil {
			b.Size, b.Time = fi.Size(), fi.ModTime()
		}
		return b, nil
	}
	list, err := Backups(stateDir, o)
	if err != nil {
		return BackupInfo{}, err
	}
	var bad []string
	for i := len(list) - 1; i >= 0; i-- {
		if err := verifyFile(ctx, list[i].Path, true); err != nil {
			bad = append(bad, err.Error())
			continue
		}
		return list[i], nil
	}
	if len(list) == 0 {
		return BackupInfo{}, fmt.Errorf("state store restore: no backup in %s ([service] backup_dir); without one, the last resort is to delete %s: it is rebuilt from the MIS, re-sending everything and losing the deletions made meanwhile (service/README.md)", o.Dir, filepath.Join(stateDir, FileName))
	}
	return BackupInfo{}, fmt.Errorf("state store restore: none of the %d backups in %s checks out: %s", len(list), o.Dir, strings.Join(bad, "; "))
}

// setAside moves the store being replaced (and its -wal, -shm: never to be applied to
// another file) into the backups folder as replaced-<time>-<name>.
func setAside(path, dir string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return classifyAt(dir, err)
	}
	aside := filepath.Join(dir, "replaced-"+time.Now().UTC().Format(backupStamp)+"-"+filepath.Base(path))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(path+suffix, aside+suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return classifyAt(path, fmt.Errorf("state store restore: cannot move %s aside: %w", path+suffix, err))
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// LastBackup is the newest backup of the open store (zero when none).
func (s *Store) LastBackup() (BackupInfo, error) {
	list, err := listBackups(s.path, s.backup.Dir)
	if err != nil || len(list) == 0 {
		return BackupInfo{}, err
	}
	return list[len(list)-1], nil
}

// BackupIfDue makes a scheduled backup when the newest one is older than Every.
func (s *Store) BackupIfDue(ctx context.Context, log *slog.Logger) {
	if s.backup.Off || s.readOnly {
		return
	}
	last, err := s.LastBackup()
	if err == nil && !last.Time.IsZero() && time.Since(last.Time) < s.backup.Every {
		return
	}
	b, err := s.Backup(ctx, "scheduled")
	if err != nil {
		log.Error("state store: scheduled backup failed", "error", err)
		return
	}
	log.Info("state store backed up", "file", b.Path, "bytes", b.Size, "keep", s.backup.Keep)
}

// RunBackups makes the scheduled backups until ctx is done: one when the newest is
// older than Every (at start too), checked every few minutes.
func (s *Store) RunBackups(ctx context.Context, log *slog.Logger) {
	if s.backup.Off || s.readOnly {
		return
	}
	tick := min(s.backup.Every/4, 10*time.Minute)
	for {
		s.BackupIfDue(ctx, log)
		t := time.NewTimer(tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
