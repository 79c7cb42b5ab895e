package excel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"

	statefile "medsync/service/store"
)

// store is the connector's own SQLite file under the state directory: hashes of
// imported files, retry counts, the last run of each export, and the minimal current
// rows the exports need (fed from delivered events, past days pruned).
type store struct {
	db   *sql.DB
	path string
}

const storeSchema = `
CREATE TABLE IF NOT EXISTS imported (hash TEXT PRIMARY KEY, file TEXT NOT NULL, org TEXT NOT NULL, at TEXT NOT NULL, loaded INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (hash TEXT PRIMARY KEY, count INTEGER NOT NULL, last_error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS exports (name TEXT PRIMARY KEY, last_run TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS branch (id TEXT PRIMARY KEY, name TEXT NOT NULL, tz TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS specialty (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS doctor (id TEXT PRIMARY KEY, branch_id TEXT NOT NULL, specialty_id TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patient (id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS appointment (id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, doctor_id TEXT NOT NULL, branch_id TEXT NOT NULL,
  day TEXT NOT NULL, start TEXT NOT NULL, status TEXT NOT NULL, room TEXT NOT NULL, comment TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS appointment_day ON appointment (day);
CREATE TABLE IF NOT EXISTS shift (id TEXT PRIMARY KEY, doctor_id TEXT NOT NULL, branch_id TEXT NOT NULL, day TEXT NOT NULL,
  start TEXT NOT NULL, end TEXT NOT NULL, break_start TEXT NOT NULL, break_end TEXT NOT NULL, room TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS shift_day ON shift (day);
`

func openStore(ctx context.Context, dir, instance string) (*store, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	name := "excel.db"
	if instance != "" && instance != "excel" {
		name = "excel-" + instance + ".db"
	}
	p := filepath.Join(dir, name)
	db, err := statefile.OpenSQLite(ctx, p, []string{storeSchema})
	if err != nil {
		return nil, fmt.Errorf("excel connector state: %w (delete the file to start afresh; imported-file hashes will be forgotten)", err)
	}
	return &store{db: db, path: p}, nil
}

func (s *store) Close() error { return s.db.Close() }

// importedAs returns the file name and time under which content hash was imported.
func (s *store) importedAs(ctx context.Context, hash string) (file, at string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT file, at FROM imported WHERE hash = ?`, hash).Scan(&file, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("excel state %s: %w", s.path, err)
	}
	return file, at, true, nil
}

func (s *store) markImported(ctx context.Context, hash, file, org string, at time.Time, loaded int) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO imported (hash, file, org, at, loaded) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO UPDATE SET file = excluded.file, at = excluded.at, loaded = excluded.loaded`,
		hash, file, org, at.Format(time.RFC3339), loaded)
	if err == nil {
		err = s.forgetAttempts(ctx, hash)
	}
	if err != nil {
		return fmt.Errorf("excel state %s: record imported file %s: %w", s.path, file, err)
	}
	return nil
}

// failedAttempt counts a failed MIS transaction for a file and returns the count.
func (s *store) failedAttempt(ctx context.Context, hash string, cause error) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `INSERT INTO attempts (hash, count, last_error) VALUES (?, 1, ?)
		ON CONFLICT (hash) DO UPDATE SET count = count + 1, last_error = excluded.last_error
		RETURNING count`, hash, cause.Error()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("excel state %s: %w", s.path, err)
	}
	return n, nil
}

func (s *store) forgetAttempts(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM attempts WHERE hash = ?`, hash)
	return err
}

func (s *store) lastRun(ctx context.Context, name string) (time.Time, bool, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT last_run FROM exports WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("excel state %s: %w", s.path, err)
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false, nil
	}
	return t, true, nil
}

func (s *store) setLastRun(ctx context.Context, name string, t time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO exports (name, last_run) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run`, name, t.Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("excel state %s: %w", s.path, err)
	}
	return nil
}

// prune drops appointments and shifts of days before today.
func (s *store) prune(ctx context.Context, today string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM appointment WHERE day < ?`, today)
	if err == nil {
		_, err = s.db.ExecContext(ctx, `DELETE FROM shift WHERE day < ?`, today)
	}
	if err != nil {
		return fmt.Errorf("excel state %s: prune past days: %w", s.path, err)
	}
	return nil
}
