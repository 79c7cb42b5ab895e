package linkcodes

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"

	statefile "medsync/service/store"
)

// Code states.
const (
	StateActive   = "active"   // issued, not used, not expired
	StateUsed     = "used"     // the patient linked with it
	StateRevoked  = "revoked"  // revoked by a registrar or replaced by a newer code
	StateExpired  = "expired"  // lifetime over
	StateCanceled = "canceled" // the card was deleted
)

const schema = `
CREATE TABLE IF NOT EXISTS codes (
	id INTEGER PRIMARY KEY,
	patient_id TEXT NOT NULL,
	hash TEXT NOT NULL,
	sealed BLOB,
	issued_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	issued_by TEXT NOT NULL,
	state TEXT NOT NULL,
	ended_at INTEGER NOT NULL DEFAULT 0,
	registered TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS codes_active_hash ON codes(hash) WHERE state = 'active';
CREATE UNIQUE INDEX IF NOT EXISTS codes_active_patient ON codes(patient_id) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS codes_patient ON codes(patient_id, issued_at);
CREATE INDEX IF NOT EXISTS codes_user ON codes(issued_by, issued_at);
CREATE TABLE IF NOT EXISTS attempts (
	id INTEGER PRIMARY KEY,
	code_id INTEGER NOT NULL,
	at INTEGER NOT NULL,
	channel TEXT NOT NULL,
	dest TEXT NOT NULL,
	ok INTEGER NOT NULL,
	detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
	id INTEGER PRIMARY KEY,
	at INTEGER NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	patient_id TEXT NOT NULL,
	detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
	patient_id TEXT PRIMARY KEY,
	linked INTEGER NOT NULL,
	at INTEGER NOT NULL,
	reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (patient_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
	token_hash TEXT PRIMARY KEY,
	user TEXT NOT NULL,
	csrf TEXT NOT NULL,
	expires INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS throttle (
	key TEXT PRIMARY KEY,
	failures INTEGER NOT NULL,
	locks INTEGER NOT NULL,
	locked_until INTEGER NOT NULL
);
`

// store is <state_dir>/linkcodes.db.
type store struct {
	db   *sql.DB
	path string
}

func openStore(ctx context.Context, dir string) (*store, error) {
	path := filepath.Join(dir, "linkcodes.db")
	db, err := statefile.OpenSQLite(ctx, path, []string{schema})
	if err != nil {
		return nil, fmt.Errorf("link codes: state file: %w; check the service account may write the state dir", err)
	}
	return &store{db: db, path: path}, nil
}

func (s *store) close() error { return s.db.Close() }

// codeRow is one issued code (never the code itself: its HMAC and, while it may be
// resent, its AES-GCM sealed copy).
type codeRow struct {
	ID         int64
	PatientID  string
	Hash       string
	Sealed     []byte
	IssuedAt   time.Time
	ExpiresAt  time.Time
	IssuedBy   string
	State      string
	EndedAt    time.Time
	Registered string
}

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0)
}

var errDuplicate = errors.New("duplicate active code")

// insertCode ends the patient's active code (state replacedState) and inserts a new
// active one, in one transaction. errDuplicate: another patient holds the same code.
func (s *store) insertCode(ctx context.Context, c *codeRow, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit a no-op
	if _, err := tx.ExecContext(ctx, `UPDATE codes SET state = ?, sealed = NULL, ended_at = ? WHERE patient_id = ? AND state = 'active'`,
		StateRevoked, unix(now), c.PatientID); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO codes (patient_id, hash, sealed, issued_at, expires_at, issued_by, state) VALUES (?, ?, ?, ?, ?, ?, 'active')`,
		c.PatientID, c.Hash, c.Sealed, unix(c.IssuedAt), unix(c.ExpiresAt), c.IssuedBy)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return errDuplicate
		}
		return err
	}
	c.ID, _ = res.LastInsertId()
	c.State = StateActive
	return tx.Commit()
}

const codeCols = `id, patient_id, hash, sealed, issued_at, expires_at, issued_by, state, ended_at, registered`

func scanCode(row interface{ Scan(...any) error }) (*codeRow, error) {
	var c codeRow
	var issued, expires, ended int64
	if err := row.Scan(&c.ID, &c.PatientID, &c.Hash, &c.Sealed, &issued, &expires, &c.IssuedBy, &c.State, &ended, &c.Registered); err != nil {
		return nil, err
	}
	c.IssuedAt, c.ExpiresAt, c.EndedAt = fromUnix(issued), fromUnix(expires), fromUnix(ended)
	return &c, nil
}

// expire marks active codes past their lifetime expired and drops their sealed copies.
func (s *store) expire(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE codes SET state = 'expired', sealed = NULL, ended_at = expires_at WHERE state = 'active' AND expires_at <= ?`, unix(now))
	return err
}

// active returns the patient's active code, or nil.
func (s *store) active(ctx context.Context, patientID string) (*codeRow, error) {
	c, err := scanCode(s.db.QueryRowContext(ctx, `SELECT `+codeCols+` FROM codes WHERE patient_id = ? AND state = 'active'`, patientID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// latest returns the patient's most recent codes, newest first.
func (s *store) latest(ctx context.Context, patientID string, n int) ([]*codeRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+codeCols+` FROM codes WHERE patient_id = ? ORDER BY id DESC LIMIT ?`, patientID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*codeRow
	for rows.Next() {
		c, err := scanCode(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// activePatients lists patients holding an active code.
func (s *store) activePatients(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT patient_id FROM codes WHERE state = 'active' ORDER BY patient_id`)
}

// watchedPatients lists patients with an active code or a recorded link: the cards
// checked for deletion after each poll.
func (s *store) watchedPatients(ctx context.Context) ([]string, error) {
	return s.strings(ctx, `SELECT patient_id FROM codes WHERE state = 'active' UNION SELECT patient_id FROM links WHERE linked = 1 ORDER BY 1`)
}

func (s *store) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// endCode ends a code (used, revoked, canceled) and drops its sealed copy.
func (s *store) endCode(ctx context.Context, id int64, state string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE codes SET state = ?, sealed = NULL, ended_at = ? WHERE id = ? AND state = 'active'`, state, unix(now), id)
	return err
}

func (s *store) setRegistered(ctx context.Context, id int64, what string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE codes SET registered = ? WHERE id = ?`, what, id)
	return err
}

// countSince counts codes issued for a patient (by = "") or by a user since t.
func (s *store) countSince(ctx context.Context, col, val string, since time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM codes WHERE `+col+` = ? AND issued_at > ?`, val, unix(since)).Scan(&n)
	return n, err
}

// Attempt is one delivery attempt of a code.
type Attempt struct {
	At      time.Time `json:"at"`
	Channel string    `json:"channel"` // "phone" or "email"
	Dest    string    `json:"dest"`    // masked: +7916***4567, i***@mail.ru
	OK      bool      `json:"ok"`
	Detail  string    `json:"detail"` // Russian, for the registrar
}

func (s *store) addAttempt(ctx context.Context, codeID int64, a Attempt) error {
	ok := 0
	if a.OK {
		ok = 1
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO attempts (code_id, at, channel, dest, ok, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		codeID, unix(a.At), a.Channel, a.Dest, ok, a.Detail)
	return err
}

func (s *store) attempts(ctx context.Context, codeID int64) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, channel, dest, ok, detail FROM attempts WHERE code_id = ? ORDER BY id`, codeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at int64
		var ok int
		if err := rows.Scan(&at, &a.Channel, &a.Dest, &ok, &a.Detail); err != nil {
			return nil, err
		}
		a.At, a.OK = fromUnix(at), ok == 1
		out = append(out, a)
	}
	return out, rows.Err()
}

// AuditEntry is one audit line: who did what for which patient — never a code.
type AuditEntry struct {
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"` // issue, resend, revoke, link, unlink, login, login_failed
	PatientID string    `json:"patient_id"`
	Detail    string    `json:"detail"`
}

func (s *store) addAudit(ctx context.Context, e AuditEntry) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit (at, actor, action, patient_id, detail) VALUES (?, ?, ?, ?, ?)`,
		unix(e.At), e.Actor, e.Action, e.PatientID, e.Detail)
	return err
}

func (s *store) audit(ctx context.Context, patientID string, n int) ([]AuditEntry, error) {
	q := `SELECT at, actor, action, patient_id, detail FROM audit`
	args := []any{}
	if patientID != "" {
		q += ` WHERE patient_id = ?`
		args = append(args, patientID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, n)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.PatientID, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromUnix(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// link state
func (s *store) setLink(ctx context.Context, patientID string, linked bool, at time.Time, reason string) error {
	l := 0
	if linked {
		l = 1
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO links (patient_id, linked, at, reason) VALUES (?, ?, ?, ?)
		ON CONFLICT(patient_id) DO UPDATE SET linked = excluded.linked, at = excluded.at, reason = excluded.reason`, patientID, l, unix(at), reason)
	return err
}

func (s *store) link(ctx context.Context, patientID string) (linked, known bool, at time.Time, reason string, err error) {
	var l int
	var a int64
	err = s.db.QueryRowContext(ctx, `SELECT linked, at, reason FROM links WHERE patient_id = ?`, patientID).Scan(&l, &a, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, time.Time{}, "", nil
	}
	return l == 1, err == nil, fromUnix(a), reason, err
}

// MIS requests handled on read-only profiles.
func (s *store) requestDone(ctx context.Context, patientID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests WHERE patient_id = ?`, patientID).Scan(&n)
	return n > 0, err
}

func (s *store) markRequest(ctx context.Context, patientID string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO requests (patient_id, at) VALUES (?, ?)`, patientID, unix(at))
	return err
}

// forgetRequests drops remembered requests whose flag is no longer set, so that a new
// flag on the same card issues again.
func (s *store) forgetRequests(ctx context.Context, flagged map[string]bool) error {
	ids, err := s.strings(ctx, `SELECT patient_id FROM requests`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !flagged[id] {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM requests WHERE patient_id = ?`, id); err != nil {
				return err
			}
		}
	}
	return nil
}
