package excel

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/connectors"
	"medsync/mapping"
)

func event(t *testing.T, op string, r mapping.Record) connectors.Event {
	t.Helper()
	var data []byte
	if op == connectors.OpUpsert {
		var err error
		if data, err = json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	}
	return connectors.Event{Entity: r.EntityName(), Op: op, Key: r.RecordKey(), IdempotencyKey: "k-" + r.RecordKey(), Data: data, Attempt: 1}
}

func TestExports(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	c, _, logs := newTestConnector(t, map[string]string{
		"export.dir":                   out,
		"export.call_list.schedule":    "0 18 * * *",
		"export.doctors_week.schedule": "0 18 * * 5",
	})
	msk, _ := time.LoadLocation("Europe/Moscow")
	// Real "now" for Deliver's pruning: the test's days are relative to today.
	today := time.Now().In(msk)
	tomorrow := time.Date(today.Year(), today.Month(), today.Day()+1, 0, 0, 0, 0, msk)
	at := func(h, m int) time.Time {
		return tomorrow.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	yesterday := tomorrow.AddDate(0, 0, -2)
	bs, be := at(13, 0), at(14, 0)
	batch := []connectors.Event{
		event(t, connectors.OpUpsert, &mapping.Branch{ID: "1", Name: "Клиника на Ленина", TimeZone: "Europe/Moscow"}),
		event(t, connectors.OpUpsert, &mapping.Branch{ID: "2", Name: "Клиника на Баумана: корпус [2]", TimeZone: "Europe/Moscow"}),
		event(t, connectors.OpUpsert, &mapping.Specialty{ID: "1", Name: "Терапевт"}),
		event(t, connectors.OpUpsert, &mapping.Doctor{ID: "10", BranchID: "1", SpecialtyID: "1", LastName: "Хабибуллина", FirstName: "Гульнара", MiddleName: "Рашитовна"}),
		event(t, connectors.OpUpsert, &mapping.Doctor{ID: "11", BranchID: "2", SpecialtyID: "1", LastName: "Смирнов", FirstName: "Андрей"}),
		event(t, connectors.OpUpsert, &mapping.Patient{ID: "100", LastName: "Иванов", FirstName: "Иван", MiddleName: "Иванович", Phone: "+79221234567"}),
		event(t, connectors.OpUpsert, &mapping.Patient{ID: "101", LastName: "Петрова", FirstName: "Анна"}),
		event(t, connectors.OpUpsert, &mapping.Shift{ID: "s1", DoctorID: "10", BranchID: "1", Start: at(9, 0), End: at(15, 0), BreakStart: &bs, BreakEnd: &be, Room: "12"}),
		event(t, connectors.OpUpsert, &mapping.Shift{ID: "s0", DoctorID: "10", BranchID: "1", Start: yesterday.Add(9 * time.Hour), End: yesterday.Add(15 * time.Hour)}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a1", PatientID: "100", DoctorID: "10", BranchID: "1", Start: at(9, 30), End: at(10, 0), Status: mapping.StatusBooked, Room: "12"}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a2", PatientID: "101", DoctorID: "11", BranchID: "2", Start: at(11, 0), End: at(11, 30), Status: mapping.StatusBooked}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a3", PatientID: "101", DoctorID: "10", BranchID: "1", Start: at(12, 0), End: at(12, 30), Status: mapping.StatusCancelled}),
		event(t, connectors.OpUpsert, &mapping.Appointment{ID: "a4", PatientID: "100", DoctorID: "10", BranchID: "1", Start: at(10, 0), End: at(10, 30), Status: mapping.StatusBooked}),
		{Entity: "appointment", Op: connectors.OpUpsert, Key: "bad", Data: json.RawMessage(`{"start": 5}`)},
		{Entity: "slot", Op: connectors.OpUpsert, Key: "x", Data: json.RawMessage(`{}`)},
	}
	errs := c.Deliver(ctx, batch)
	if len(errs) != len(batch) {
		t.Fatalf("%d results for %d events", len(errs), len(batch))
	}
	for i, err := range errs[:13] {
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if !connectors.IsPermanent(errs[13]) || !connectors.IsPermanent(errs[14]) {
		t.Errorf("malformed events: %v, %v", errs[13], errs[14])
	}
	// A delete removes the appointment; redelivery is harmless.
	if errs := c.Deliver(ctx, []connectors.Event{event(t, connectors.OpDelete, &mapping.Appointment{ID: "a4"}), batch[9]}); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if n := mustCount(t, c.st.db, `SELECT COUNT(*) FROM shift`); n != 1 {
		t.Errorf("past shift kept: %d shifts", n)
	}

	// First run only schedules; a run after 18:00 writes the files.
	c.now = func() time.Time { return tomorrow.Add(-7 * time.Hour) } // today 17:00
	if err := runWait(c, ctx, &testHost{log: c.log}); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, out); len(got) != 0 {
		t.Fatalf("exported before the schedule: %v", got)
	}
	c.now = func() time.Time { return tomorrow.Add(-5 * time.Hour) } // today 19:00
	if err := runWait(c, ctx, &testHost{log: c.log}); err != nil {
		t.Fatal(err)
	}
	day := tomorrow.Format(time.DateOnly)
	call := filepath.Join(out, callListPrefix+day+".xlsx")
	f, err := excelize.OpenFile(call)
	if err != nil {
		t.Fatalf("call list: %v; log:\n%s", err, logs)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if strings.Join(sheets, "|") != "Клиника на Баумана  корпус |Клиника на Ленина" && len(sheets) != 2 {
		t.Errorf("sheets %q", sheets)
	}
	rows, _ := f.GetRows("Клиника на Ленина")
	if len(rows) != 2 || rows[1][2] != "Иванов Иван Иванович" || rows[1][4] != "+79221234567" || rows[1][1] != "09:30" || rows[1][7] != "12" {
		t.Errorf("Ленина rows: %q", rows)
	}
	if rows[0][0] != "Дата" || rows[0][3] != "Карта" || rows[0][4] != "Телефон" {
		t.Errorf("headers %q", rows[0])
	}
	typ, _ := f.GetCellType("Клиника на Ленина", "A2")
	raw, _ := f.GetCellValue("Клиника на Ленина", "A2", excelize.Options{RawCellValue: true})
	if typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString || strings.Contains(raw, ".") && !strings.Contains(raw, "E") && len(raw) < 5 {
		t.Errorf("date cell is not a real date: type %v raw %q", typ, raw)
	}
	if ptype, _ := f.GetCellType("Клиника на Ленина", "E2"); ptype != excelize.CellTypeSharedString && ptype != excelize.CellTypeInlineString {
		t.Errorf("phone is not text: %v", ptype)
	}
	panes, _ := f.GetPanes("Клиника на Ленина")
	if !panes.Freeze {
		t.Error("header not frozen")
	}
	var other string
	for _, s := range sheets {
		if strings.HasPrefix(s, "Клиника на Баумана") {
			other = s
		}
	}
	rows, _ = f.GetRows(other)
	if len(rows) != 2 || rows[1][4] != "нет телефона" {
		t.Errorf("Баумана rows %q", rows)
	}

	week := filepath.Join(out, doctorsPrefix+day+"_"+tomorrow.AddDate(0, 0, 6).Format(time.DateOnly)+".xlsx")
	if tomorrow.Add(-5*time.Hour).Weekday() == time.Friday {
		rows := readSheet(t, week, "Расписание")
		if len(rows) != 2 || rows[1][1] != "Хабибуллина Гульнара Рашитовна" || rows[1][7] != "13:00–14:00" || rows[1][9] != "1" {
			t.Errorf("doctors' week: %q", rows)
		}
	}
	// The doctors' week export runs on Fridays only; force it for the check.
	path, err := c.exportDoctorsWeek(ctx, tomorrow.Add(-5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rows = readSheet(t, path, "Расписание")
	if len(rows) != 2 || rows[1][1] != "Хабибуллина Гульнара Рашитовна" || rows[1][7] != "13:00–14:00" || rows[1][9] != "1" {
		t.Errorf("doctors' week: %q", rows)
	}
	// Same day again: nothing new (the schedule has not come round).
	before := listDir(t, out)
	if err := runWait(c, ctx, &testHost{log: c.log}); err != nil {
		t.Fatal(err)
	}
	if after := listDir(t, out); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("files changed: %v → %v", before, after)
	}
	for _, n := range listDir(t, out) {
		if strings.HasSuffix(n, ".tmp") {
			t.Errorf("temporary file left: %s", n)
		}
	}
}
