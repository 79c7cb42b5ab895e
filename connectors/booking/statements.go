package booking

import (
	"context"
	"fmt"
	"strconv"

	"medsync/connectors"
)

// Names of the profile's write statements (README.md: what each one gets and returns).
const (
	stmtLock      = "write.book_lock"        // optional: serialises bookings of a doctor; run first
	stmtFindExt   = "write.book_find_ext"    // :ext_id → id, deleted[, branch_id, doctor_id]
	stmtCheck     = "write.book_check"       // → doctor_ok, patient_ok, busy[, in_schedule]
	stmtInsert    = "write.book_insert"      // inserts the appointment
	stmtServices  = "write.book_services"    // optional: one row per service
	stmtCancelExt = "write.cancel_ext"       // cancels by :ext_id
	stmtFindID    = "write.appointment_find" // optional: :appointment_id → id, deleted[, branch_id, doctor_id]
	stmtCancelID  = "write.cancel_id"        // optional: cancels by :appointment_id
)

// required are the statements Book cannot do without.
var required = []string{stmtFindExt, stmtCheck, stmtInsert}

// Statements lists every write statement this package runs, for `medsync check` and
// the docs.
func Statements() []string {
	return []string{stmtLock, stmtFindExt, stmtCheck, stmtInsert, stmtServices, stmtCancelExt, stmtFindID, stmtCancelID}
}

// misID passes an id to SQL as a number when it is one (legacy schemas use int
// keys), else as text; empty is NULL.
func misID(s string) any {
	if s == "" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// row is one result row by lower-case column name.
type row map[string]any

func (r row) text(col string) string {
	switch v := r[col].(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// flag reads a count or boolean column: > 0 or true is true.
func (r row) flag(col string) bool {
	switch v := r[col].(type) {
	case nil:
		return false
	case bool:
		return v
	case int64:
		return v > 0
	case int32:
		return v > 0
	case int:
		return v > 0
	case float64:
		return v > 0
	case float32:
		return v > 0
	default:
		n, err := strconv.ParseFloat(r.text(col), 64)
		return err == nil && n > 0
	}
}

func (r row) has(col string) bool { _, ok := r[col]; return ok }

// queryRow runs a named statement and returns its first row (nil when there is none).
func queryRow(ctx context.Context, tx connectors.MISTx, name string, params map[string]any) (row, error) {
	rows, err := tx.Query(ctx, name, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := make(row, len(cols))
	for i, c := range cols {
		out[lower(c)] = vals[i]
	}
	return out, rows.Err()
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// found is an appointment a find statement returned.
type found struct {
	id, branchID, doctorID string
	deleted                bool
}

// find runs a find statement (book_find_ext or appointment_find).
func find(ctx context.Context, tx connectors.MISTx, name string, params map[string]any) (found, bool, error) {
	r, err := queryRow(ctx, tx, name, params)
	if err != nil || r == nil {
		return found{}, false, err
	}
	if !r.has("id") {
		return found{}, false, fmt.Errorf("%s must return a column named id (and deleted)", name)
	}
	return found{id: r.text("id"), deleted: r.flag("deleted"), branchID: r.text("branch_id"), doctorID: r.text("doctor_id")}, true, nil
}

// verdict is what book_check returned.
type verdict struct {
	doctorOK, patientOK, busy bool
	inSchedule                bool // true when the statement does not report it
}

func check(ctx context.Context, tx connectors.MISTx, params map[string]any) (verdict, error) {
	r, err := queryRow(ctx, tx, stmtCheck, params)
	if err != nil {
		return verdict{}, err
	}
	if r == nil {
		return verdict{}, nil // no such doctor
	}
	for _, c := range []string{"doctor_ok", "patient_ok", "busy"} {
		if !r.has(c) {
			return verdict{}, fmt.Errorf("%s must return the columns doctor_ok, patient_ok, busy (and in_schedule); %s is missing", stmtCheck, c)
		}
	}
	v := verdict{doctorOK: r.flag("doctor_ok"), patientOK: r.flag("patient_ok"), busy: r.flag("busy"), inSchedule: true}
	if r.has("in_schedule") {
		v.inSchedule = r.flag("in_schedule")
	}
	return v, nil
}
