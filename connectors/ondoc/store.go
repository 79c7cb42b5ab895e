package ondoc

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"

	statefile "medsync/service/store"
)

// store is the connector's own small SQLite file: which patients are linked, the
// appointments held back for patients who are not (yet), which appointments may have
// reached ONDOC (recorded before each send, so a hard delete is sent as a cancellation
// even after a lost acknowledgement), the answers given to ONDOC
// bookings, the link notices of the events feed already applied, and its cursor. It keeps ids, times and visit payloads without
// names or contacts.
type store struct {
	db *sql.DB
}

const storeSchema = `
CREATE TABLE IF NOT EXISTS linked (patient_id TEXT PRIMARY KEY, linked_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS held (appt_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, start_unix INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS held_patient ON held(patient_id, start_unix);
CREATE TABLE IF NOT EXISTS sent (appt_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, start_unix INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS answers (booking_id TEXT PRIMARY KEY, result TEXT NOT NULL, mis_id TEXT NOT NULL DEFAULT '', reason_code TEXT NOT NULL DEFAULT '', answered INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);
`

// noticesSchema (migration 2) remembers the link and unlink notices of the events
// feed already applied (linkNotice).
const noticesSchema = `CREATE TABLE IF NOT EXISTS notices (event_id TEXT PRIMARY KEY, at INTEGER NOT NULL);`

func openStore(path string) (*store, error) {
	db, err := statefile.OpenSQLite(context.Background(), path, []string{storeSchema, noticesSchema})
	if err != nil {
		return nil, fmt.Errorf("ondoc: state file: %w (delete it if it is damaged; links are learned again from ONDOC)", err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) isLinked(ctx context.Context, patientID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM linked WHERE patient_id = ?`, patientID).Scan(&n)
	return n > 0, err
}

func (s *store) setLinked(ctx context.Context, patientID string, linked bool, at time.Time) error {
	var err error
	if linked {
		_, err = s.db.ExecContext(ctx, `INSERT INTO linked(patient_id, linked_at) VALUES(?, ?) ON CONFLICT(patient_id) DO NOTHING`, patientID, at.Unix())
	} else {
		_, err = s.db.ExecContext(ctx, `DELETE FROM linked WHERE patient_id = ?`, patientID)
	}
	return err
}

// linkNotice applies a link (linked) or unlink notice of the events feed, once: a
// page of the feed is read again when its handling stopped half-way, and a notice
// applied then — and undone since, by medsync's own unlink of a deleted card, say —
// must not be applied a second time. It reports whether it applied the notice; one
// without an event id is applied every time.
func (s *store) linkNotice(ctx context.Context, eventID, patientID string, linked bool, at time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if eventID != "" {
		res, err := tx.ExecContext(ctx, `INSERT INTO notices(event_id, at) VALUES(?, ?) ON CONFLICT(event_id) DO NOTHING`, eventID, at.Unix())
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return false, err
		}
	}
	if linked {
		_, err = tx.ExecContext(ctx, `INSERT INTO linked(patient_id, linked_at) VALUES(?, ?) ON CONFLICT(patient_id) DO NOTHING`, patientID, at.Unix())
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM linked WHERE patient_id = ?`, patientID)
	}
	if err != nil {
		return false, err
	}
	return true, tx.Commit()
}

func (s *store) hold(ctx context.Context, apptID, patientID string, start time.Time, payload []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO held(appt_id, patient_id, start_unix, payload) VALUES(?, ?, ?, ?)
		ON CONFLICT(appt_id) DO UPDATE SET patient_id = excluded.patient_id, start_unix = excluded.start_unix, payload = excluded.payload`,
		apptID, patientID, start.Unix(), payload)
	return err
}

func (s *store) unhold(ctx context.Context, apptID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM held WHERE appt_id = ?`, apptID)
	return err
}

func (s *store) isHeld(ctx context.Context, apptID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM held WHERE appt_id = ?`, apptID).Scan(&n)
	return n > 0, err
}

func (s *store) dropHeldOfPatient(ctx context.Context, patientID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM held WHERE patient_id = ?`, patientID)
	return err
}

type heldVisit struct {
	ApptID  string
	Start   time.Time
	Payload []byte
}

// heldOfLinked returns held appointments of linked patients starting at or after from.
func (s *store) heldOfLinked(ctx context.Context, from time.Time) ([]heldVisit, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT h.appt_id, h.start_unix, h.payload FROM held h
		JOIN linked l ON l.patient_id = h.patient_id WHERE h.start_unix >= ? ORDER BY h.start_unix, h.appt_id`, from.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []heldVisit
	for rows.Next() {
		var h heldVisit
		var unix int64
		if err := rows.Scan(&h.ApptID, &unix, &h.Payload); err != nil {
			return nil, err
		}
		h.Start = time.Unix(unix, 0)
		out = append(out, h)
	}
	return out, rows.Err()
}

// purge drops held appointments that are already past and forgets old sent ones.
func (s *store) purge(ctx context.Context, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM held WHERE start_unix < ?`, now.Unix()); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sent WHERE start_unix < ?`, now.AddDate(0, 0, -30).Unix()); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM answers WHERE at < ?`, now.AddDate(0, 0, -90).Unix()); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM notices WHERE at < ?`, now.AddDate(0, 0, -90).Unix())
	return err
}

// markSent records that an appointment may have reached ONDOC. It is called before
// the request goes out (not after the 2xx), so that a later hard delete is sent as a
// cancellation even when ONDOC's answer was lost.
func (s *store) markSent(ctx context.Context, apptID, patientID string, start time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sent(appt_id, patient_id, start_unix) VALUES(?, ?, ?)
		ON CONFLICT(appt_id) DO UPDATE SET patient_id = excluded.patient_id, start_unix = excluded.start_unix`, apptID, patientID, start.Unix())
	return err
}

// sentVisit returns the patient an appointment was sent for, or "", and its start.
func (s *store) sentVisit(ctx context.Context, apptID string) (string, time.Time, error) {
	var p string
	var unix int64
	err := s.db.QueryRowContext(ctx, `SELECT patient_id, start_unix FROM sent WHERE appt_id = ?`, apptID).Scan(&p, &unix)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return p, time.Unix(unix, 0), err
}

func (s *store) forgetSent(ctx context.Context, apptID string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sent WHERE appt_id = ?`, apptID)
	return err
}

type answer struct {
	Result, MisID, ReasonCode string
	Answered                  bool
}

func (s *store) answer(ctx context.Context, bookingID string) (*answer, error) {
	var a answer
	var answered int
	err := s.db.QueryRowContext(ctx, `SELECT result, mis_id, reason_code, answered FROM answers WHERE booking_id = ?`, bookingID).
		Scan(&a.Result, &a.MisID, &a.ReasonCode, &answered)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	a.Answered = answered != 0
	return &a, err
}

func (s *store) saveAnswer(ctx context.Context, bookingID string, a answer, now time.Time) error {
	ans := 0
	if a.Answered {
		ans = 1
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO answers(booking_id, result, mis_id, reason_code, answered, at) VALUES(?, ?, ?, ?, ?, ?)
		ON CONFLICT(booking_id) DO UPDATE SET result = excluded.result, mis_id = excluded.mis_id, reason_code = excluded.reason_code, answered = excluded.answered`,
		bookingID, a.Result, a.MisID, a.ReasonCode, ans, now.Unix())
	return err
}

func (s *store) get(ctx context.Context, k string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = ?`, k).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (s *store) set(ctx context.Context, k, v string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO kv(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, k, v)
	return err
}
