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
	db   *sql.DB
	path string
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
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

// Open opens (creating when needed) the state store in dir and migrates it.
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, FileName)
	db, err := OpenSQLite(ctx, path, migrations)
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	return &Store{db: db, path: path}, nil
}

// OpenSQLite opens (creating the folder and file when needed) an SQLite state file
// of medsync's — the state store, or a connector's or service's own file — in WAL
// mode with one connection (SQLite allows one writer; one connection also serialises
// transactions), and applies the migrations it has not seen yet. A file's schema
// version is the number of migrations applied (PRAGMA user_version). Append to
// migrations; never edit a shipped one.
func OpenSQLite(ctx context.Context, path string, migrations []string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create the folder of %s: %w (check [service] state_dir and folder permissions)", path, err)
	}
	// auto_vacuum first: it only takes on a new, empty file, before WAL is set up. On
	// an existing file it is a no-op.
	dsn := "file:" + filepath.ToSlash(path) + "?_pragma=auto_vacuum(INCREMENTAL)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(ctx, db, path, migrations); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB, path string, migrations []string) error {
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("%s: cannot read the schema version: %w (is it a medsync state file? a damaged one can be deleted: it is rebuilt)", path, err)
	}

	if v > len(migrations) {
		return fmt.Errorf("%s has schema version %d, newer than this medsync (%d): run the newer medsync or restore a backup", path, v, len(migrations))
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

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

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
