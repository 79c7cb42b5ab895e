package excel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"medsync/connectors"
	"medsync/mapping/convert"
)

// Profile write statements the import uses (see README.md for their parameters).
const (
	stmtContractEnd   = "write.staff_contract_end"
	stmtFindPatient   = "write.staff_find_patient"
	stmtNewPatientID  = "write.staff_new_patient_id"
	stmtInsertPatient = "write.staff_insert_patient"
	stmtListAdd       = "write.staff_list_add"
)

// requiredStatements must all be declared for imports to run; write.staff_contract_end
// is optional (without it contracts are not checked).
var requiredStatements = []string{stmtFindPatient, stmtNewPatientID, stmtInsertPatient, stmtListAdd}

// missingStatements lists the required statements the profile lacks.
func missingStatements(w connectors.MISWriter) []string {
	var out []string
	for _, s := range requiredStatements {
		if w == nil || !w.Has(s) {
			out = append(out, s)
		}
	}
	return out
}

// contractExpiredMsg is the seed MIS's refusal when the organization's contract with the
// clinic has ended.
func contractExpiredMsg(end convert.Date) string {
	return fmt.Sprintf("Срок действия договора между организацией и клиникой истёк %s. Импорт сотрудников в модуль Профосмотр недоступен. "+
		"Необходимо добавить новый актуальный договор в справочник «Организации».", ruDate(end))
}

// idParam passes numeric ids as integers (MIS key columns are int) and others as text.
func idParam(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
}

// checkContract runs write.staff_contract_end and refuses the file when the contract
// ended before today. A NULL end date means an open-ended contract.
func checkContract(ctx context.Context, tx connectors.MISTx, o *orgConfig, today convert.Date) error {
	rows, err := tx.Query(ctx, stmtContractEnd, map[string]any{"org": idParam(o.MISID)})
	if err != nil {
		return fmt.Errorf("%s for organization %s (mis_id %s): %w", stmtContractEnd, o.Code, o.MISID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", stmtContractEnd, err)
		}
		return refuse(fmt.Sprintf("Организация с кодом %s не найдена в МИС. Проверьте настройку org.%s.mis_id.", o.MISID, o.Code),
			"organization mis_id %s not found in the MIS (%s returned no row); fix org.%s.mis_id", o.MISID, stmtContractEnd, o.Code)
	}
	var v any
	if err := rows.Scan(&v); err != nil {
		return fmt.Errorf("%s: %w", stmtContractEnd, err)
	}
	end, ok, err := anyDate(v)
	if err != nil {
		return fmt.Errorf("%s: contract end of organization %s: %w", stmtContractEnd, o.MISID, err)
	}
	if ok && end.Compare(today) < 0 {
		return refuse(contractExpiredMsg(end), "the contract of organization %s (mis_id %s) ended on %s; the clinic must add a current contract in the MIS", o.Code, o.MISID, end)
	}
	return rows.Err()
}

// anyDate reads a date a statement returned: an OLE day number, a DATE/timestamp, or
// text 'YYYY-MM-DD'. ok is false for NULL.
func anyDate(v any) (convert.Date, bool, error) {
	switch x := v.(type) {
	case nil:
		return convert.Date{}, false, nil
	case time.Time:
		return convert.FromTime(x), true, nil
	case float64:
		d, err := convert.OLEDate(x)
		return d, err == nil, err
	case int64:
		d, err := convert.OLEDate(float64(x))
		return d, err == nil, err
	case []byte:
		return anyDate(string(x))
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return convert.Date{}, false, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return anyDate(f)
		}
		if len(s) > 10 {
			s = s[:10]
		}
		d, err := convert.ParseDate(s)
		return d, err == nil, err
	}
	return convert.Date{}, false, fmt.Errorf("unexpected value %v (%T); return an OLE day, a DATE or 'YYYY-MM-DD'", v, v)
}

func anyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// writeRow puts one valid row into the MIS inside tx: the patient card is found by
// birth date and folded name, or created; then the card is added to the organization's
// check-up list unless it is already there.
func writeRow(ctx context.Context, tx connectors.MISTx, o *orgConfig, r *staffRow, source string, nowOLE float64) error {
	p := map[string]any{
		"org":         idParam(o.MISID),
		"last_name":   r.Last,
		"first_name":  r.First,
		"middle_name": nullable(r.Middle),
		"birth_ole":   convert.ToOLE(r.Birth),
		"birth_date":  r.Birth.String(),
		"sex":         nullable(r.Sex),
		"phone":       nullable(r.Phone),
		"position":    nullable(r.Position),
		"department":  nullable(r.Department),
		"exam_type":   r.ExamType,
		"conditions":  nil,
		"factors":     nullable(strings.Join(r.Factors, ", ")),
		"source_file": source,
		"now_ole":     nowOLE,
	}
	if r.Conditions != 0 {
		p["conditions"] = r.Conditions
	}
	id, err := findPatient(ctx, tx, p, r)
	if err != nil {
		return fmt.Errorf("row %d: %w", r.Row, err)
	}
	created := false
	if id == "" {
		if id, err = newPatientID(ctx, tx); err != nil {
			return fmt.Errorf("row %d: %w", r.Row, err)
		}
		p["id"] = idParam(id)
		p["card_number"] = id
		if _, err := tx.Exec(ctx, stmtInsertPatient, p); err != nil {
			return fmt.Errorf("row %d: %s: %w", r.Row, stmtInsertPatient, err)
		}
		created = true
	}
	r.PatientID = id
	p["patient_id"] = idParam(id)
	res, err := tx.Exec(ctx, stmtListAdd, p)
	if err != nil {
		return fmt.Errorf("row %d: %s: %w", r.Row, stmtListAdd, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("row %d: %s: %w", r.Row, stmtListAdd, err)
	}
	switch {
	case n == 0:
		r.Status = statusListed
		r.Note = joinNote(r.Note, "сотрудник уже есть в списке профосмотра организации (карта № "+id+")")
	case created:
		r.Status = statusLoaded
		r.Note = joinNote(r.Note, "создана новая карта № "+id)
	default:
		r.Status = statusLoaded
		r.Note = joinNote(r.Note, "найдена карта № "+id)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// findPatient returns the id of the first non-deleted card with the row's birth date
// whose folded surname, name and patronymic match (ё = е, case and spaces ignored).
func findPatient(ctx context.Context, tx connectors.MISTx, p map[string]any, r *staffRow) (string, error) {
	rows, err := tx.Query(ctx, stmtFindPatient, p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stmtFindPatient, err)
	}
	defer rows.Close()
	want := [3]string{convert.FoldName(r.Last), convert.FoldName(r.First), convert.FoldName(r.Middle)}
	var id, last, first, middle any
	for rows.Next() {
		if err := rows.Scan(&id, &last, &first, &middle); err != nil {
			return "", fmt.Errorf("%s: expected columns id, last_name, first_name, middle_name: %w", stmtFindPatient, err)
		}
		got := [3]string{convert.FoldName(anyString(last)), convert.FoldName(anyString(first)), convert.FoldName(anyString(middle))}
		if got == want {
			return anyString(id), rows.Close()
		}
	}
	return "", rows.Err()
}

func newPatientID(ctx context.Context, tx connectors.MISTx) (string, error) {
	rows, err := tx.Query(ctx, stmtNewPatientID, map[string]any{})
	if err != nil {
		return "", fmt.Errorf("%s: %w", stmtNewPatientID, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", fmt.Errorf("%s: %w", stmtNewPatientID, err)
		}
		return "", fmt.Errorf("%s returned no row", stmtNewPatientID)
	}
	var v any
	if err := rows.Scan(&v); err != nil {
		return "", fmt.Errorf("%s: %w", stmtNewPatientID, err)
	}
	id := anyString(v)
	if id == "" {
		return "", errors.New(stmtNewPatientID + " returned NULL")
	}
	return id, rows.Close()
}
