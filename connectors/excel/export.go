package excel

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping"
)

// Deliver keeps the minimal current rows the exports need in the connector's state:
// branch names and zones, doctors' names, specialties, patients' names and phones,
// appointments and shifts of today and later. Past days are pruned on every Run.
func (c *Connector) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	if len(batch) == 0 {
		return errs
	}
	fail := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = connectors.Transient(err, 0)
			}
		}
		return errs
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	tx, err := c.st.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("excel state %s: %w", c.st.path, err))
	}
	defer tx.Rollback()
	today := time.Now().In(c.cfg.Zone).Format(time.DateOnly)
	for i, ev := range batch {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		err := applyEvent(ctx, tx, ev, today)
		if err == nil {
			continue
		}
		if connectors.IsPermanent(err) {
			errs[i] = err
			continue
		}
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("excel state %s: %w", c.st.path, err))
	}
	return errs
}

var tables = map[string]string{
	mapping.EntityBranch: "branch", mapping.EntitySpecialty: "specialty", mapping.EntityDoctor: "doctor",
	mapping.EntityPatient: "patient", mapping.EntityShift: "shift", mapping.EntityAppointment: "appointment",
}

func applyEvent(ctx context.Context, tx *sql.Tx, ev connectors.Event, today string) error {
	table, ok := tables[ev.Entity]
	if !ok {
		return connectors.Permanent(fmt.Sprintf("excel connector does not take entity %q (event %s)", ev.Entity, ev.Key), nil)
	}
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("excel state: %s %s: %w", ev.Entity, ev.Key, err)
		}
		return nil
	}
	if ev.Op == connectors.OpDelete {
		return exec("DELETE FROM "+table+" WHERE id = ?", ev.Key)
	}
	if ev.Op != connectors.OpUpsert {
		return connectors.Permanent(fmt.Sprintf("%s %s: unknown operation %q", ev.Entity, ev.Key, ev.Op), nil)
	}
	bad := func(err error) error {
		return connectors.Permanent(fmt.Sprintf("%s %s: event data is not a canonical %s record", ev.Entity, ev.Key, ev.Entity), err)
	}
	switch ev.Entity {
	case mapping.EntityBranch:
		var r mapping.Branch
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return bad(err)
		}
		return exec(`INSERT OR REPLACE INTO branch (id, name, tz) VALUES (?, ?, ?)`, ev.Key, r.Name, r.TimeZone)
	case mapping.EntitySpecialty:
		var r mapping.Specialty
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return bad(err)
		}
		return exec(`INSERT OR REPLACE INTO specialty (id, name) VALUES (?, ?)`, ev.Key, r.Name)
	case mapping.EntityDoctor:
		var r mapping.Doctor
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return bad(err)
		}
		return exec(`INSERT OR REPLACE INTO doctor (id, branch_id, specialty_id, name) VALUES (?, ?, ?, ?)`,
			ev.Key, r.BranchID, r.SpecialtyID, fullName(r.LastName, r.FirstName, r.MiddleName))
	case mapping.EntityPatient:
		var r mapping.Patient
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return bad(err)
		}
		if r.Deleted {
			return exec(`DELETE FROM patient WHERE id = ?`, ev.Key)
		}
		return exec(`INSERT OR REPLACE INTO patient (id, name, phone, card) VALUES (?, ?, ?, ?)`,
			ev.Key, fullName(r.LastName, r.FirstName, r.MiddleName), r.Phone, r.CardNumber)
	case mapping.EntityShift:
		var r mapping.Shift
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return bad(err)
		}
		if r.Start.IsZero() {
			return bad(fmt.Errorf("no start"))
		}
		day := r.Start.Format(time.DateOnly)
		if day < today {
			return exec(`DELETE FROM shift WHERE id = ?`, ev.Key)
		}
		bs, be := "", ""
		if r.BreakStart != nil && r.BreakEnd != nil {
			bs, be = r.BreakStart.Format(time.RFC3339), r.BreakEnd.Format(time.RFC3339)
		}
		return exec(`INSERT OR REPLACE INTO shift (id, doctor_id, branch_id, day, start, end, break_start, break_end, room) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.Key, r.DoctorID, r.BranchID, day, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), bs, be, r.Room)
	case mapping.EntityAppointment:
		var r mapping.Appointment
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return bad(err)
		}
		if r.Start.IsZero() {
			return bad(fmt.Errorf("no start"))
		}
		day := r.Start.Format(time.DateOnly)
		if day < today {
			return exec(`DELETE FROM appointment WHERE id = ?`, ev.Key)
		}
		return exec(`INSERT OR REPLACE INTO appointment (id, patient_id, doctor_id, branch_id, day, start, status, room, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.Key, r.PatientID, r.DoctorID, r.BranchID, day, r.Start.Format(time.RFC3339), r.Status, r.Room, r.Comment)
	}
	return nil
}

func fullName(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// runExports prunes past days and runs every export whose schedule came since its
// last run. The first time an export is seen it is only scheduled, not run.
func (c *Connector) runExports(ctx context.Context, log *slog.Logger, host connectors.Host) error {
	now := c.now().In(c.cfg.Zone)
	if err := c.st.prune(ctx, now.Format(time.DateOnly)); err != nil {
		return err
	}
	for _, e := range c.cfg.Exports {
		last, ok, err := c.st.lastRun(ctx, e.Name)
		if err != nil {
			return err
		}
		if !ok {
			if err := c.st.setLastRun(ctx, e.Name, now); err != nil {
				return err
			}
			continue
		}
		if next := e.Schedule.Next(last.In(c.cfg.Zone)); next.After(now) {
			continue
		}
		var path string
		switch e.Name {
		case exportCallList:
			path, err = c.exportCallList(ctx, now, host)
		case exportDoctorsWeek:
			path, err = c.exportDoctorsWeek(ctx, now)
		}
		if err != nil {
			log.Error("export failed; tried again next round", "export", e.Name, "err", err)
			continue
		}
		if err := c.st.setLastRun(ctx, e.Name, now); err != nil {
			return err
		}
		log.Info("export written", "export", e.Name, "file", path)
		c.cleanExports(log, now)
	}
	return nil
}

// cleanExports deletes exported workbooks older than export.keep_days.
func (c *Connector) cleanExports(log *slog.Logger, now time.Time) {
	if c.cfg.KeepDays <= 0 {
		return
	}
	entries, err := os.ReadDir(c.cfg.ExportDir)
	if err != nil {
		return
	}
	limit := now.AddDate(0, 0, -c.cfg.KeepDays)
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !(strings.HasPrefix(n, callListPrefix) || strings.HasPrefix(n, doctorsPrefix)) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(limit) {
			if err := os.Remove(filepath.Join(c.cfg.ExportDir, n)); err != nil {
				log.Warn("cannot delete an old export", "file", n, "err", err)
			}
		}
	}
}

const (
	callListPrefix = "Обзвон_"
	doctorsPrefix  = "Расписание_врачей_"
)

var badSheetChars = regexp.MustCompile(`[\[\]:*?/\\']`)

func sheetName(s string, used map[string]bool) string {
	s = strings.TrimSpace(badSheetChars.ReplaceAllString(s, " "))
	if s == "" {
		s = "Филиал"
	}
	r := []rune(s)
	if len(r) > 28 {
		r = r[:28]
	}
	base := string(r)
	name := base
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s %d", base, i)
	}
	used[name] = true
	return name
}

type callRow struct {
	branch, branchName   string
	start                time.Time
	patientID, card      string
	patient, phone       string
	doctor, spec, room   string
	comment, appointment string
}

// exportCallList writes tomorrow's booked appointments, one sheet per branch. Every
// row names the patient (and card number) and a phone: a patient the connector has not
// received yet is looked up in the engine's synced records.
func (c *Connector) exportCallList(ctx context.Context, now time.Time, host connectors.Host) (string, error) {
	day := now.AddDate(0, 0, 1).Format(time.DateOnly)
	rows, err := c.st.db.QueryContext(ctx, `
		SELECT a.branch_id, COALESCE(b.name, ''), a.start, a.patient_id, COALESCE(p.card, ''), COALESCE(p.name, ''), COALESCE(p.phone, ''),
		       COALESCE(d.name, ''), COALESCE(s.name, ''), a.room, a.comment, a.id
		FROM appointment a
		LEFT JOIN branch b ON b.id = a.branch_id
		LEFT JOIN patient p ON p.id = a.patient_id
		LEFT JOIN doctor d ON d.id = a.doctor_id
		LEFT JOIN specialty s ON s.id = d.specialty_id
		WHERE a.day = ? AND a.status = ?
		ORDER BY COALESCE(b.name, a.branch_id), a.start, d.name`, day, mapping.StatusBooked)
	if err != nil {
		return "", fmt.Errorf("excel state: %w", err)
	}
	defer rows.Close()
	var all []callRow
	for rows.Next() {
		var r callRow
		var start string
		if err := rows.Scan(&r.branch, &r.branchName, &start, &r.patientID, &r.card, &r.patient, &r.phone, &r.doctor, &r.spec, &r.room, &r.comment, &r.appointment); err != nil {
			return "", err
		}
		if r.start, err = time.Parse(time.RFC3339, start); err != nil {
			continue
		}
		if r.branchName == "" {
			r.branchName = "Филиал " + r.branch
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if err := fillPatients(ctx, host, all); err != nil {
		return "", err
	}
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return "", err
	}
	headers := []string{"Дата", "Время", "Пациент", "Карта", "Телефон", "Врач", "Специальность", "Кабинет", "Комментарий", "Результат звонка"}
	used := map[string]bool{}
	first := true
	writeSheet := func(title string, items []callRow) error {
		name := sheetName(title, used)
		if first {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
			first = false
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		data := make([][]any, 0, len(items))
		for _, r := range items {
			phone := r.phone
			if phone == "" {
				phone = "нет телефона"
			}
			local := time.Date(r.start.Year(), r.start.Month(), r.start.Day(), 0, 0, 0, 0, time.UTC)
			tod := dayFraction(r.start)
			data = append(data, []any{
				excelize.Cell{StyleID: st.date, Value: local},
				excelize.Cell{StyleID: st.time, Value: tod},
				r.patient, excelize.Cell{StyleID: st.text, Value: r.card}, excelize.Cell{StyleID: st.text, Value: phone}, r.doctor, r.spec, r.room, r.comment, "",
			})
		}
		return writeTable(f, st, name, headers, data, map[int]float64{9: 30})
	}
	if len(all) == 0 {
		if err := writeSheet("Записи", nil); err != nil {
			return "", err
		}
	}
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].branch == all[i].branch {
			j++
		}
		if err := writeSheet(all[i].branchName, all[i:j]); err != nil {
			return "", err
		}
		i = j
	}
	path := filepath.Join(c.cfg.ExportDir, callListPrefix+day+".xlsx")
	return path, saveAtomic(f, path)
}

// exportDoctorsWeek writes the doctors' shifts for the seven days from tomorrow.
func (c *Connector) exportDoctorsWeek(ctx context.Context, now time.Time) (string, error) {
	from := now.AddDate(0, 0, 1).Format(time.DateOnly)
	to := now.AddDate(0, 0, 7).Format(time.DateOnly)
	rows, err := c.st.db.QueryContext(ctx, `
		SELECT COALESCE(b.name, s.branch_id), COALESCE(d.name, 'Врач ' || s.doctor_id), COALESCE(sp.name, ''),
		       s.start, s.end, s.break_start, s.break_end, s.room,
		       (SELECT COUNT(*) FROM appointment a WHERE a.doctor_id = s.doctor_id AND a.day = s.day AND a.status = ?
		          AND a.start >= s.start AND a.start < s.end)
		FROM shift s
		LEFT JOIN doctor d ON d.id = s.doctor_id
		LEFT JOIN branch b ON b.id = s.branch_id
		LEFT JOIN specialty sp ON sp.id = d.specialty_id
		WHERE s.day >= ? AND s.day <= ?
		ORDER BY 1, 2, s.start`, mapping.StatusBooked, from, to)
	if err != nil {
		return "", fmt.Errorf("excel state: %w", err)
	}
	defer rows.Close()
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return "", err
	}
	const sheet = "Расписание"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return "", err
	}
	var data [][]any
	clock := func(t time.Time) excelize.Cell {
		return excelize.Cell{StyleID: st.time, Value: dayFraction(t)}
	}
	for rows.Next() {
		var branch, doctor, spec, start, end, bs, be, room string
		var booked int
		if err := rows.Scan(&branch, &doctor, &spec, &start, &end, &bs, &be, &room, &booked); err != nil {
			return "", err
		}
		s, err1 := time.Parse(time.RFC3339, start)
		e, err2 := time.Parse(time.RFC3339, end)
		if err1 != nil || err2 != nil {
			continue
		}
		breakText := ""
		if b1, err := time.Parse(time.RFC3339, bs); err == nil {
			if b2, err := time.Parse(time.RFC3339, be); err == nil {
				breakText = b1.Format("15:04") + "–" + b2.Format("15:04")
			}
		}
		data = append(data, []any{
			branch, doctor, spec,
			excelize.Cell{StyleID: st.date, Value: time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC)},
			weekdays[s.Weekday()], clock(s), clock(e), breakText, room, booked,
		})
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	headers := []string{"Филиал", "Врач", "Специальность", "Дата", "День недели", "Начало", "Окончание", "Перерыв", "Кабинет", "Записано"}
	if err := writeTable(f, st, sheet, headers, data, nil); err != nil {
		return "", err
	}
	path := filepath.Join(c.cfg.ExportDir, doctorsPrefix+from+"_"+to+".xlsx")
	return path, saveAtomic(f, path)
}

// dayFraction is the wall-clock time of t as Excel stores a time of day.
func dayFraction(t time.Time) float64 { return float64(t.Hour()*60+t.Minute()) / 1440 }

var weekdays = [...]string{"воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"}

// writeTable writes a header row and data with the stream writer: frozen header,
// autofilter, column widths fitted to the contents (minWidth: at least that wide, e.g.
// an empty column to write in), printing landscape one page wide with the header row
// repeated.
func writeTable(f *excelize.File, st *styles, sheet string, headers []string, data [][]any, minWidth map[int]float64) error {
	w := newWidths(headers)
	for i, m := range minWidth {
		w.w[i] = max(w.w[i], m)
	}
	for _, row := range data {
		for i, v := range row {
			w.fit(i, cellText(v))
		}
	}
	if err := printSetup(f, sheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	if err := w.apply(sw); err != nil {
		return err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	if err := sw.SetRow("A1", headerCells(st, headers), excelize.RowOpts{Height: w.headerHeight()}); err != nil {
		return err
	}
	texts := make([]string, len(headers))
	for i, row := range data {
		for j, v := range row {
			texts[j] = ""
			switch x := v.(type) {
			case string:
				row[j] = excelize.Cell{StyleID: st.wrap, Value: x}
				texts[j] = x
			case int:
				row[j] = excelize.Cell{StyleID: st.wrap, Value: x}
			case excelize.Cell:
				if s, ok := x.Value.(string); ok {
					texts[j] = s
				}
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row, w.rowOpts(texts)...); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	last, _ := excelize.CoordinatesToCellName(len(headers), len(data)+1)
	return f.AutoFilter(sheet, "A1:"+last, nil)
}

// cellText is how wide a value shows: dates and times as dd.mm.yyyy and hh:mm.
func cellText(v any) string {
	if c, ok := v.(excelize.Cell); ok {
		v = c.Value
	}
	switch x := v.(type) {
	case time.Time:
		return "00.00.0000"
	case float64:
		return "00:00"
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// fillPatients names the patients of call-list rows the connector has no patient event
// for, from the engine's synced records when the state store keeps patients (another
// connector lists them in Keeps; the Excel connector does not, to not make every
// installation keep all patient records); a patient not known at all is named by code
// so the registrar can find the card.
func fillPatients(ctx context.Context, host connectors.Host, rows []callRow) error {
	missing := map[string][]int{}
	for i, r := range rows {
		if r.patient == "" && r.patientID != "" {
			missing[r.patientID] = append(missing[r.patientID], i)
		}
	}
	if len(missing) > 0 && host != nil {
		err := host.Records(ctx, mapping.EntityPatient, func(key string, data json.RawMessage) error {
			idx, ok := missing[key]
			if !ok {
				return nil
			}
			var p mapping.Patient
			if json.Unmarshal(data, &p) != nil {
				return nil
			}
			for _, i := range idx {
				rows[i].patient = fullName(p.LastName, p.FirstName, p.MiddleName)
				rows[i].phone, rows[i].card = p.Phone, p.CardNumber
			}
			return nil
		})
		if err != nil && ctx.Err() != nil {
			return err
		}
		// Otherwise the store keeps no patient data (no connector lists it in Keeps):
		// such patients are named by their code below.
	}
	for i := range rows {
		r := &rows[i]
		if r.patient == "" {
			if r.patientID == "" {
				r.patient = "пациент не указан в записи"
			} else {
				r.patient = "пациент с кодом " + r.patientID + " (нет в данных medsync — найдите карту в МИС)"
			}
		}
		if r.card == "" {
			r.card = r.patientID
		}
	}
	return nil
}
