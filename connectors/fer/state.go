package fer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	statefile "medsync/service/store"
)

// sessions is the connector's small SQLite state file (<state_dir>/fer.db, or
// fer-<instance>.db): the patient each Session_ID identified, until session_ttl has
// passed, and the bookings made here, until their visit has passed (CancelAppointment
// finds a booking the next poll has not read yet). It lives on disk so that a restart
// of the service between a patient's GetPatientInfo and CreateAppointment, or between a
// booking and the poll that reads it, loses neither. It keeps ids and times only.
type sessions struct {
	ttl time.Duration
	db  *sql.DB
}

const sessionsSchema = `
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS booked (appt_id TEXT PRIMARY KEY, ext_id TEXT NOT NULL, start_unix INTEGER NOT NULL, slot_id TEXT NOT NULL);
`

type bookedEntry struct {
	extID string
	start time.Time
	slot  string
}

func openSessions(path string, ttl time.Duration) (*sessions, error) {
	db, err := statefile.OpenSQLite(context.Background(), path, []string{sessionsSchema})
	if err != nil {
		return nil, fmt.Errorf("ФЭР: state file: %w (delete it if it is damaged: only sessions in progress are lost)", err)
	}
	return &sessions{ttl: ttl, db: db}, nil
}

func (s *sessions) close() error { return s.db.Close() }

// setPatient remembers the patient of a session for session_ttl, and forgets expired
// sessions.
func (s *sessions) setPatient(ctx context.Context, session, patient string, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires < ?`, now.Unix()); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions(session_id, patient_id, expires) VALUES(?, ?, ?)
		ON CONFLICT(session_id) DO UPDATE SET patient_id = excluded.patient_id, expires = excluded.expires`,
		strings.ToLower(session), patient, now.Add(s.ttl).Unix())
	return err
}

// patient is the patient GetPatientInfo identified in the session, or "".
func (s *sessions) patient(ctx context.Context, session string, now time.Time) (string, error) {
	var p string
	err := s.db.QueryRowContext(ctx, `SELECT patient_id FROM sessions WHERE session_id = ? AND expires >= ?`,
		strings.ToLower(session), now.Unix()).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return p, err
}

// remember keeps a booking made here until its visit has passed.
func (s *sessions) remember(ctx context.Context, appt string, b bookedEntry, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM booked WHERE start_unix < ?`, now.Unix()); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO booked(appt_id, ext_id, start_unix, slot_id) VALUES(?, ?, ?, ?)
		ON CONFLICT(appt_id) DO UPDATE SET ext_id = excluded.ext_id, start_unix = excluded.start_unix, slot_id = excluded.slot_id`,
		appt, b.extID, b.start.Unix(), b.slot)
	return err
}

// bookedAs is a booking made here, if it was.
func (s *sessions) bookedAs(ctx context.Context, appt string) (bookedEntry, bool, error) {
	var b bookedEntry
	var unix int64
	err := s.db.QueryRowContext(ctx, `SELECT ext_id, start_unix, slot_id FROM booked WHERE appt_id = ?`, appt).Scan(&b.extID, &unix, &b.slot)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	if err != nil {
		return b, false, err
	}
	b.start = time.Unix(unix, 0)
	return b, true, nil
}
