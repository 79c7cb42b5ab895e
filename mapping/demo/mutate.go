package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Mutation helpers change the demo MIS the way a registrar would, for the engine's tests
// and README demos. Every change sets the row's MODIFYDATE to now (wall clock of the
// local zone), and always strictly above its previous value, in one transaction.

// ErrNotFound is returned (wrapped) when the row to change does not exist.
var ErrNotFound = errors.New("no such row in the demo MIS")

// Now is the clock of the mutation helpers; tests may replace it.
var Now = time.Now

// versioned names the key column of each demo table that has MODIFYDATE.
var versioned = map[string]string{
	"DOCTORS":   "DOCT_ID",
	"CLIENTS":   "PCODE",
	"DOCTSHIFT": "SHIFT_ID",
	"SCHEDULE":  "SCHEDID",
}

var identRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// inTx runs fn in a transaction. A transaction that read before it writes cannot
// wait for SQLite's write lock (another connection — the medsync under test, booking —
// wrote since its read began: SQLITE_BUSY at once, whatever the busy timeout), so on
// SQLite it is run again, a few times, as the MIS's own client would.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if err = inTxOnce(ctx, db, fn); err == nil || !sqliteBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(10*(attempt+1)) * time.Millisecond):
		}
	}
	return err
}

// sqliteBusy reports whether err is SQLite's "database is locked".
func sqliteBusy(err error) bool {
	return strings.Contains(err.Error(), "SQLITE_BUSY") || strings.Contains(err.Error(), "database is locked")
}

func inTxOnce(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("demo MIS: starting a transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback() //nolint:errcheck // fn's error is what matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("demo MIS: committing: %w", err)
	}
	return nil
}

// nextVersion reads the row's MODIFYDATE and returns the new one: now, or a second
// after the old one when the clock is not ahead of it.
func nextVersion(ctx context.Context, tx *sql.Tx, dialect, table, keyCol string, id int) (float64, error) {
	var old sql.NullFloat64
	err := tx.QueryRowContext(ctx, rebind(dialect, "SELECT MODIFYDATE FROM "+table+" WHERE "+keyCol+" = ?"), id).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("demo MIS: %s %s=%d: %w", table, keyCol, id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("demo MIS: reading %s %s=%d: %w", table, keyCol, id, err)
	}
	v := oleDateTime(Now())
	if old.Valid && v <= old.Float64 {
		v = old.Float64 + 1.0/86400
	}
	return v, nil
}

// UpdateRow sets columns of the row with key id in a demo table that has MODIFYDATE
// (DOCTORS, CLIENTS, DOCTSHIFT, SCHEDULE) and moves its MODIFYDATE to now. Column
// names are upper-case identifiers; values are passed as query arguments.
func UpdateRow(ctx context.Context, db *sql.DB, dialect, table string, id int, set map[string]any) error {
	if err := checkDialect(dialect); err != nil {
		return err
	}
	keyCol, ok := versioned[table]
	if !ok {
		return fmt.Errorf("demo MIS: UpdateRow works on DOCTORS, CLIENTS, DOCTSHIFT and SCHEDULE, not %q", table)
	}
	cols := make([]string, 0, len(set))
	for c := range set {
		if !identRe.MatchString(c) || c == "MODIFYDATE" || c == keyCol {
			return fmt.Errorf("demo MIS: UpdateRow: column %q of %s cannot be set", c, table)
		}
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return inTx(ctx, db, func(tx *sql.Tx) error {
		v, err := nextVersion(ctx, tx, dialect, table, keyCol, id)
		if err != nil {
			return err
		}
		var b strings.Builder
		args := make([]any, 0, len(cols)+2)
		b.WriteString("UPDATE " + table + " SET ")
		for _, c := range cols {
			b.WriteString(c + " = ?, ")
			args = append(args, set[c])
		}
		b.WriteString("MODIFYDATE = ? WHERE " + keyCol + " = ?")
		args = append(args, v, id)
		if _, err := tx.ExecContext(ctx, rebind(dialect, b.String()), args...); err != nil {
			return fmt.Errorf("demo MIS: updating %s %s=%d: %w", table, keyCol, id, err)
		}
		return nil
	})
}

// MoveAppointment moves appointment id to newStart (MIS local wall time: pass a time in
// the branch's zone), keeping its length.
func MoveAppointment(ctx context.Context, db *sql.DB, dialect string, id int, newStart time.Time) error {
	if err := checkDialect(dialect); err != nil {
		return err
	}
	return inTx(ctx, db, func(tx *sql.Tx) error {
		var b, e float64
		err := tx.QueryRowContext(ctx, rebind(dialect, "SELECT BHOUR, EHOUR FROM SCHEDULE WHERE SCHEDID = ?"), id).Scan(&b, &e)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("demo MIS: appointment SCHEDID=%d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("demo MIS: reading appointment SCHEDID=%d: %w", id, err)
		}
		v, err := nextVersion(ctx, tx, dialect, "SCHEDULE", "SCHEDID", id)
		if err != nil {
			return err
		}
		h, m, _ := newStart.Clock()
		nb := minutesFrac(h*60 + m)
		_, err = tx.ExecContext(ctx, rebind(dialect, "UPDATE SCHEDULE SET WDATE = ?, BHOUR = ?, EHOUR = ?, MODIFYDATE = ? WHERE SCHEDID = ?"),
			float64(oleDay(newStart)), nb, nb+(e-b), v, id)
		if err != nil {
			return fmt.Errorf("demo MIS: moving appointment SCHEDID=%d: %w", id, err)
		}
		return nil
	})
}

// CancelAppointment soft-deletes appointment id (DELETED=1) with the DELREASONS reason.
func CancelAppointment(ctx context.Context, db *sql.DB, dialect string, id, reasonID int) error {
	return UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"DELETED": 1, "DEL_REASON_ID": reasonID})
}

// RestoreAppointment undoes a cancellation: DELETED=0, no reason.
func RestoreAppointment(ctx context.Context, db *sql.DB, dialect string, id int) error {
	return UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"DELETED": 0, "DEL_REASON_ID": nil})
}

// SetAppointmentStatus sets STATUS (0 booked, 1 completed, 2 no-show).
func SetAppointmentStatus(ctx context.Context, db *sql.DB, dialect string, id, status int) error {
	return UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"STATUS": status})
}

// DeleteAppointment removes appointment id and its SCHEDSERV rows for good (a hard
// delete, as some MIS builds do).
func DeleteAppointment(ctx context.Context, db *sql.DB, dialect string, id int) error {
	if err := checkDialect(dialect); err != nil {
		return err
	}
	return inTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, rebind(dialect, "DELETE FROM SCHEDSERV WHERE SCHEDID = ?"), id); err != nil {
			return fmt.Errorf("demo MIS: deleting services of appointment SCHEDID=%d: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, rebind(dialect, "DELETE FROM SCHEDULE WHERE SCHEDID = ?"), id)
		if err != nil {
			return fmt.Errorf("demo MIS: deleting appointment SCHEDID=%d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("demo MIS: appointment SCHEDID=%d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeletePatient marks patient card pcode deleted (DELETED=1), as the MIS does.
func DeletePatient(ctx context.Context, db *sql.DB, dialect string, pcode int) error {
	return UpdateRow(ctx, db, dialect, "CLIENTS", pcode, map[string]any{"DELETED": 1})
}

// NewAppointment describes an appointment for AddAppointment.
type NewAppointment struct {
	PatientID int           // PCODE; 0 = walk-in without a card (NULL)
	DoctorID  int           // DOCT_ID, required
	BranchID  int           // FILIAL_ID; 0 = the doctor's branch
	Start     time.Time     // MIS local wall time
	Duration  time.Duration // 0 = the doctor's SLOT_MIN (30 min when NULL)
	Source    int           // 0 desk, 1 phone, 2 online, 3 other
	Room      string
	Comment   string
	ExtID     string // external booking id (ONDOC); "" = NULL
	Services  []int  // SERV_IDs for SCHEDSERV
}

// AddAppointment inserts a booked appointment and returns its SCHEDID (the next free one).
func AddAppointment(ctx context.Context, db *sql.DB, dialect string, a NewAppointment) (int, error) {
	if err := checkDialect(dialect); err != nil {
		return 0, err
	}
	var id int
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		var branch int
		var slot sql.NullInt64
		err := tx.QueryRowContext(ctx, rebind(dialect, "SELECT FILIAL_ID, SLOT_MIN FROM DOCTORS WHERE DOCT_ID = ?"), a.DoctorID).Scan(&branch, &slot)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("demo MIS: doctor DOCT_ID=%d: %w", a.DoctorID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("demo MIS: reading doctor DOCT_ID=%d: %w", a.DoctorID, err)
		}
		if a.BranchID != 0 {
			branch = a.BranchID
		}
		dur := a.Duration
		if dur == 0 {
			dur = 30 * time.Minute
			if slot.Valid && slot.Int64 > 0 {
				dur = time.Duration(slot.Int64) * time.Minute
			}
		}
		var maxID sql.NullInt64
		q := "SELECT MAX(SCHEDID) FROM SCHEDULE"
		if dialect == Firebird { // the generator, and never below what others inserted
			q = "SELECT MAXVALUE(GEN_ID(GEN_SCHEDULE_ID, 1) - 1, COALESCE((SELECT MAX(SCHEDID) FROM SCHEDULE), 0)) FROM RDB$DATABASE"
		}
		if err := tx.QueryRowContext(ctx, q).Scan(&maxID); err != nil {
			return fmt.Errorf("demo MIS: reading the last SCHEDID: %w", err)
		}
		id = int(maxID.Int64) + 1
		h, m, _ := a.Start.Clock()
		b := minutesFrac(h*60 + m)
		var pcode any
		if a.PatientID != 0 {
			pcode = a.PatientID
		}
		_, err = tx.ExecContext(ctx, rebind(dialect, "INSERT INTO SCHEDULE (SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED, "+
			"DEL_REASON_ID, SOURCE, ROOM, COMMENT, EXT_ID, MODIFYDATE) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, NULL, ?, ?, ?, ?, ?)"),
			id, pcode, a.DoctorID, branch, float64(oleDay(a.Start)), b, b+dur.Minutes()/1440, a.Source,
			nullStr(a.Room), nullStr(a.Comment), nullStr(a.ExtID), oleDateTime(Now()))
		if err != nil {
			return fmt.Errorf("demo MIS: adding an appointment for doctor DOCT_ID=%d at %s: %w", a.DoctorID, a.Start.Format("2006-01-02 15:04"), err)
		}
		for _, sv := range a.Services {
			if _, err := tx.ExecContext(ctx, rebind(dialect, "INSERT INTO SCHEDSERV (SCHEDID, SERV_ID) VALUES (?, ?)"), id, sv); err != nil {
				return fmt.Errorf("demo MIS: adding service SERV_ID=%d to appointment SCHEDID=%d: %w", sv, id, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}
