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
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state store: cannot create state directory %s: %w (check [service] state_dir and folder permissions)", dir, err)
	}
	path := filepath.Join(dir, FileName)
	dsn := "file:" + filepath.ToSlash(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", path, err)
	}
	// One writer at a time is all SQLite allows; a single connection also keeps
	// transactions strictly serialised between the poller and the dispatchers.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Path is the store's file path.
func (s *Store) Path() string { return s.path }

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("state store %s: cannot read schema version: %w (is the file a medsync state store?)", s.path, err)
	}
	if v > len(migrations) {
		return fmt.Errorf("state store %s has schema version %d, newer than this medsync (%d): run the newer medsync or restore a backup", s.path, v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("state store %s: migrate to %d: %w", s.path, i+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("state store %s: migrate to %d: %w", s.path, i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("state store %s: migrate to %d: %w", s.path, i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("state store %s: migrate to %d: %w", s.path, i+1, err)
		}
	}
	return nil
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
