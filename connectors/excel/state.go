package excel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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

// storeSchemaV2: imported files per organization (the same file may be meant for two
// organizations), the organizations' corrections of harmful-factor codes, employees
// waiting for recognition, patients' card numbers for the call list.
const storeSchemaV2 = `
CREATE TABLE imported_org (org TEXT NOT NULL, hash TEXT NOT NULL, file TEXT NOT NULL, at TEXT NOT NULL, loaded INTEGER NOT NULL,
  PRIMARY KEY (org, hash));
INSERT OR IGNORE INTO imported_org (org, hash, file, at, loaded) SELECT org, hash, file, at, loaded FROM imported;
CREATE TABLE factor_fix (org TEXT NOT NULL, typed TEXT NOT NULL, codes TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (org, typed));
CREATE TABLE factor_pending (import TEXT NOT NULL, org TEXT NOT NULL, patient_id TEXT NOT NULL, row INTEGER NOT NULL,
  factors TEXT NOT NULL, unknown TEXT NOT NULL, PRIMARY KEY (import, patient_id));
ALTER TABLE patient ADD COLUMN card TEXT NOT NULL DEFAULT '';
`

func openStore(ctx context.Context, p string) (*store, error) {
	db, err := statefile.OpenSQLite(ctx, p, []string{storeSchema, storeSchemaV2})
	if err != nil {
		return nil, fmt.Errorf("excel connector state: %w (delete the file to start afresh; imported-file hashes will be forgotten)", err)
	}
	return &store{db: db, path: p}, nil
}

func (s *store) Close() error { return s.db.Close() }

// importedAs returns the file name and time under which content hash was imported for
// organization org.
func (s *store) importedAs(ctx context.Context, org, hash string) (file, at string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT file, at FROM imported_org WHERE org = ? AND hash = ?`, org, hash).Scan(&file, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("excel state %s: %w", s.path, err)
	}
	return file, at, true, nil
}

func (s *store) markImported(ctx context.Context, hash, file, org string, at time.Time, loaded int) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO imported_org (org, hash, file, at, loaded) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (org, hash) DO UPDATE SET file = excluded.file, at = excluded.at, loaded = excluded.loaded`,
		org, hash, file, at.Format(time.RFC3339), loaded)
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

// fixes returns organization org's remembered corrections of harmful-factor codes:
// folded typed code → codes ("" = not a factor).
func (s *store) fixes(ctx context.Context, org string) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT typed, codes FROM factor_fix WHERE org = ?`, org)
	if err != nil {
		return nil, fmt.Errorf("excel state %s: %w", s.path, err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var typed, codes string
		if err := rows.Scan(&typed, &codes); err != nil {
			return nil, fmt.Errorf("excel state %s: %w", s.path, err)
		}
		out[typed] = splitList(codes)
	}
	return out, rows.Err()
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pendingFactors is one listed employee whose typed codes are waiting for the
// registrar's recognition.
type pendingFactors struct {
	PatientID string
	Row       int
	Factors   []string // codes on the list now
	Unknown   []string // typed codes not recognised yet
}

// savePending remembers the loaded rows with unrecognised codes of import id.
func (s *store) savePending(ctx context.Context, id, org string, rows []*staffRow) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("excel state %s: %w", s.path, err)
	}
	defer tx.Rollback()
	for _, r := range rows {
		if len(r.Unknown) == 0 || r.PatientID == "" || r.Status != statusLoaded {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO factor_pending (import, org, patient_id, row, factors, unknown) VALUES (?, ?, ?, ?, ?, ?)`,
			id, org, r.PatientID, r.Row, strings.Join(r.Factors, ","), strings.Join(r.Unknown, "\n")); err != nil {
			return fmt.Errorf("excel state %s: %w", s.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("excel state %s: %w", s.path, err)
	}
	return nil
}

// pending returns the employees of import id still waiting for recognition, and the
// organization the import belongs to ("" when the id is unknown or all is recognised).
func (s *store) pending(ctx context.Context, id string) (org string, out []pendingFactors, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT org, patient_id, row, factors, unknown FROM factor_pending WHERE import = ? ORDER BY row`, id)
	if err != nil {
		return "", nil, fmt.Errorf("excel state %s: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var p pendingFactors
		var factors, unknown string
		if err := rows.Scan(&org, &p.PatientID, &p.Row, &factors, &unknown); err != nil {
			return "", nil, fmt.Errorf("excel state %s: %w", s.path, err)
		}
		p.Factors = splitList(factors)
		p.Unknown = strings.Split(unknown, "\n")
		out = append(out, p)
	}
	return org, out, rows.Err()
}

// recognised stores the organization's corrections and the new state of the pending
// employees of import id (those with nothing left unknown are dropped).
func (s *store) recognised(ctx context.Context, id, org string, fixes map[string][]string, now time.Time, left []pendingFactors) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("excel state %s: %w", s.path, err)
	}
	defer tx.Rollback()
	for typed, codes := range fixes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO factor_fix (org, typed, codes, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org, typed) DO UPDATE SET codes = excluded.codes, at = excluded.at`, org, typed, strings.Join(codes, ","), now.Format(time.RFC3339)); err != nil {
			return fmt.Errorf("excel state %s: %w", s.path, err)
		}
	}
	for _, p := range left {
		var err error
		if len(p.Unknown) == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM factor_pending WHERE import = ? AND patient_id = ?`, id, p.PatientID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE factor_pending SET factors = ?, unknown = ? WHERE import = ? AND patient_id = ?`,
				strings.Join(p.Factors, ","), strings.Join(p.Unknown, "\n"), id, p.PatientID)
		}
		if err != nil {
			return fmt.Errorf("excel state %s: %w", s.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("excel state %s: %w", s.path, err)
	}
	return nil
}
