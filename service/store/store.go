// Package store is medsync's state store: an embedded SQLite file (WAL mode) holding
// the snapshot of what was last read from the MIS (fingerprints, not records), the
// outbox of events waiting for each connector, the dead-letter list, deletions held by
// the mass-disappearance guard, and a short poll history. Snapshot changes and the
// events they imply are written in one transaction (DESIGN.md, invariant 2).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// FileName is the state store's file inside the state directory.
const FileName = "medsync-state.db"

// Store is an open state store. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	path     string
	lock     *DirLock // nil when opened read-only
	readOnly bool
	backup   BackupOptions
}

// migrations are applied in order; the schema version is the number applied.
// Never edit a shipped migration: append a new one.
var migrations = []string{
	// 1: initial schema
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The snapshot: per entity, pages of (key, fingerprint, version hash, window instant)
-- entries; a record's page is a hash of its key (see snapshot.go).
CREATE TABLE snapshot_pages (
  entity TEXT NOT NULL,
  page   INTEGER NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (entity, page)
) WITHOUT ROWID;
CREATE TABLE records (
  entity TEXT NOT NULL,
  key    TEXT NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (entity, key)
) WITHOUT ROWID;
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  connector  TEXT NOT NULL,
  entity     TEXT NOT NULL,
  key        TEXT NOT NULL,
  op         TEXT NOT NULL,
  idem       TEXT NOT NULL,
  fp         TEXT NOT NULL,
  at         TEXT NOT NULL,
  data       BLOB,
  attempts   INTEGER NOT NULL DEFAULT 0,
  next_at    INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX outbox_record ON outbox (connector, entity, key);
CREATE INDEX outbox_queue ON outbox (connector, seq);
CREATE TABLE dead_letters (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  connector TEXT NOT NULL,
  entity    TEXT NOT NULL,
  key       TEXT NOT NULL,
  op        TEXT NOT NULL,
  idem      TEXT NOT NULL,
  fp        TEXT NOT NULL,
  at        TEXT NOT NULL,
  data      BLOB,
  attempts  INTEGER NOT NULL,
  reason    TEXT NOT NULL,
  failed_at TEXT NOT NULL
);
CREATE TABLE held_deletions (
  entity  TEXT NOT NULL,
  key     TEXT NOT NULL,
  held_at TEXT NOT NULL,
  confirmed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (entity, key)
) WITHOUT ROWID;
CREATE TABLE polls (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  started  TEXT NOT NULL,
  duration_ms INTEGER NOT NULL,
  ok       INTEGER NOT NULL,
  summary  TEXT NOT NULL
);`,
	// 2: a held row is a deletion or a derived record's guarded change (a slot
	// turning free), DESIGN.md invariant 9.
	`ALTER TABLE held_deletions ADD COLUMN kind TEXT NOT NULL DEFAULT 'delete';`,
	// 3: a summary of an entity's snapshot (its buckets' row counts and checksums),
	// written with the snapshot, so that a poll can tell an unchanged entity without
	// loading its snapshot (flat.go, Change.Summarize).
	`CREATE TABLE snapshot_summaries (
  entity TEXT PRIMARY KEY,
  data   BLOB NOT NULL
) WITHOUT ROWID;`,
	// 4: an outbox row may hold a batch of a big read's events (op "batch",
	// batch.go); events is how many.
	`ALTER TABLE outbox ADD COLUMN events INTEGER NOT NULL DEFAULT 1;`,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

// Open opens (creating when needed) the state store in dir and migrates it, with the
// default backup settings (see OpenWith).
func Open(ctx context.Context, dir string) (*Store, error) { return OpenWith(ctx, dir, Options{}) }

// Options adjust how the state store is opened.
type Options struct {
	Backup BackupOptions // where backups go (the one before a migration included)
}

// OpenWith takes the state directory's single-instance lock (Lock: a second process
// fails at once, told who holds it), opens the store, backs it up when a migration is
// due, and migrates it. Close releases the lock. Errors are classified (*Error).
func OpenWith(ctx context.Context, dir string, o Options) (*Store, error) {
	lock, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	bo := o.Backup.withDefaults(dir)
	if err := refuseBlindRebuild(path, bo); err != nil {
		lock.Release()
		return nil, err
	}
	db, err := openSQLite(ctx, path, migrations, bo)
	if err != nil {
		lock.Release()
		return nil, err
	}
	return &Store{db: db, path: path, lock: lock, backup: bo}, nil
}

// refuseBlindRebuild stops a start with no state store while backups of it exist:
// someone deleted the store (a rebuild from nothing re-sends everything and loses the
// deletions made meanwhile), where a restore would resume from the newest backup.
func refuseBlindRebuild(path string, bo BackupOptions) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	list, err := listBackups(path, bo.Dir)
	if err != nil || len(list) == 0 {
		return nil
	}
	return fmt.Errorf("state store: %s is missing, but %d backups of it are in %s (newest %s). "+
		"Run `medsync state restore` to resume from the newest one. Starting from nothing instead re-sends everything and "+
		"loses the deletions made in the MIS meanwhile; if that is really wanted, move the backups out of %s first (service/README.md, «What a restore and a rebuild lose»)",
		path, len(list), bo.Dir, filepath.Base(list[len(list)-1].Path), bo.Dir)
}

// ErrNoStore is wrapped by OpenReadOnly's error when the state store does not exist.
var ErrNoStore = errors.New("does not exist yet")

// OpenReadOnly opens the state store of dir for reading only, without the
// single-instance lock: the read-only verbs (status, check, dlq list, deletions list,
// queue list, state check) run alongside the service this way — SQLite in WAL mode
// lets readers and the one writer work at once, and query_only refuses any write. The
// store must exist and have this build's schema version.
func OpenReadOnly(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("state store: %s %w: it is created by the first poll (medsync once, or the service)", path, ErrNoStore)
		}
		return nil, classifyAt(path, fmt.Errorf("state store: %w", err))
	}
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, classifyAt(path, fmt.Errorf("state store: %s: %w", path, err))
	}
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		db.Close()
		return nil, classifyAt(path, fmt.Errorf("state store: %s: cannot read the schema version: %w", path, err))
	}
	if v != len(migrations) {
		db.Close()
		return nil, fmt.Errorf("state store: %s has schema version %d, this medsync reads %d: %s", path, v, len(migrations), versionHint(v))
	}
	return &Store{db: db, path: path, readOnly: true}, nil
}

func versionHint(v int) string {
	if v > len(migrations) {
		return "run the newer medsync that wrote it, or restore a backup (medsync state restore)"
	}
	return "start the service (or run medsync once) with this version first: it migrates the store"
}

// OpenSQLite opens (creating the folder and file when needed) an SQLite state file
// of medsync's — the state store, or a connector's or service's own file — in WAL
// mode with one connection (SQLite allows one writer; one connection also serialises
// transactions), and applies the migrations it has not seen yet, after a backup of
// the file into the backups folder next to it. A file's schema version is the number
// of migrations applied (PRAGMA user_version). Append to migrations; never edit a
// shipped one. Errors are classified (*Error).
func OpenSQLite(ctx context.Context, path string, migrations []string) (*sql.DB, error) {
	return openSQLite(ctx, path, migrations, BackupOptions{}.withDefaults(filepath.Dir(path)))
}

func openSQLite(ctx context.Context, path string, migrations []string, bo BackupOptions) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, classifyAt(path, fmt.Errorf("cannot create the folder of %s: %w (check [service] state_dir)", path, err))
	}
	// auto_vacuum first: it only takes on a new, empty file, before WAL is set up. On
	// an existing file it is a no-op.
	dsn := "file:" + filepath.ToSlash(path) + "?_pragma=auto_vacuum(INCREMENTAL)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, classifyAt(path, fmt.Errorf("%s: %w", path, err))
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, path, migrations, bo); err != nil {
		db.Close()
		return nil, classifyAt(path, err)
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB, path string, migrations []string, bo BackupOptions) error {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("%s: cannot open it as a medsync state file: %w", path, err)
	}
	if v > len(migrations) {
		return fmt.Errorf("%s has schema version %d, newer than this medsync (%d): run the newer medsync or restore a backup (medsync state restore)", path, v, len(migrations))
	}
	if v > 0 && v < len(migrations) {
		// A migration rewrites the file: keep the old one to go back to.
		if _, err := backupFile(ctx, path, bo, fmt.Sprintf("before-migration-v%d", v+1)); err != nil {
			return fmt.Errorf("%s: backup before migrating to schema version %d: %w (the store is left as it was)", path, v+1, err)
		}
	}
	for i := v; i < len(migrations); i++ {
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(i+1)); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return fmt.Errorf("%s: migrating to schema version %d: %w", path, i+1, err)
		}
	}
	return nil
}

// Compact returns pages freed by delivered events to the disk (a first poll of a big
// MIS queues a million events; once they are delivered the file shrinks again).
func (s *Store) Compact(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`)
	return err
}

// Path is the store's file path.
func (s *Store) Path() string { return s.path }

// Close closes the store and releases the state directory's lock.
func (s *Store) Close() error {
	err := s.db.Close()
	if lerr := s.lock.Release(); err == nil {
		err = lerr
	}
	return err
}

// Version reports the schema version of the open store.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
	return v, err
}

// GetMeta reads a meta value ("" when absent).
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// SetMeta writes a meta value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

func rfc3339(t time.Time) string { return t.Format(time.RFC3339) }
