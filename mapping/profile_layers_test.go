package mapping_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/demo"
)

// TestExtendsViews: a custom profile extends the shipped views profile and overrides
// only the statement it needs; everything else (statements of every dialect,
// profile.ini keys) comes from views.
func TestExtendsViews(t *testing.T) {
	dir := writeProfile(t, map[string]string{
		"profile.ini": "name = myviews\nextends = views\n[appointment]\nmap.status = 7:booked\nmap.status.* = booked\n",
		"common.sql": "-- name: shift.rows\nSELECT * FROM MY_SHIFTS(:from_date, :to_date)\n" +
			"-- name: slot.blocked\nSELECT doctor_id, {{date}}, start_time, end_time FROM MEDSYNC_BLOCKED WHERE {{date}} >= :from_date\n",
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	views, _ := mapping.LoadProfile("views")
	// The base's {{date}} fragment, per dialect, serves the extending profile's statements.
	if q, _ := p.Statement(mapping.DialectFirebird, "slot.blocked"); !strings.Contains(q, `"date" >= :from_date`) {
		t.Errorf("firebird slot.blocked = %q", q)
	}
	if q, _ := p.Statement(mapping.DialectPostgres, "slot.blocked"); !strings.Contains(q, "doctor_id, date, start_time") {
		t.Errorf("postgres slot.blocked = %q", q)
	}
	for _, d := range mapping.Dialects {
		if q, _ := p.Statement(d, "shift.rows"); !strings.Contains(q, "MY_SHIFTS") {
			t.Errorf("%s: shift.rows = %q, want the override", d, q)
		}
		for _, name := range []string{"appointment.rows", "patient.by_keys", "slot.busy"} {
			got, ok := p.Statement(d, name)
			want, _ := views.Statement(d, name)
			if !ok || got != want {
				t.Errorf("%s %s: %q, want views' %q", d, name, got, want)
			}
		}
	}
	for _, st := range p.Statements(mapping.DialectPostgres) {
		if st.Name == "appointment.rows" && (st.Profile != "views" || st.File != "views/common.sql") {
			t.Errorf("inherited statement from %q, file %q", st.Profile, st.File)
		}
	}
}

// TestExtendsFolderAndFragments: a profile extends another folder, overrides one
// fragment that the base's statements include, and a fragment includes a fragment.
func TestExtendsFolderAndFragments(t *testing.T) {
	root := t.TempDir()
	write := func(dir string, files map[string]string) {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			if err := os.WriteFile(filepath.Join(root, dir, n), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("base", map[string]string{
		"profile.ini": "name = base\n[shift]\nconvert.date = ole_date\ndefault.slot_minutes = 20\n",
		"common.sql": `-- fragment: shift_days
SELECT * FROM RULES r JOIN DAYS d ON {{matches}}
-- fragment: matches
d.WD = r.WD
-- name: shift.rows
{{shift_days}} WHERE d.D >= :from_ole
-- name: shift.by_keys
{{ shift_days }} WHERE r.ID IN (:keys)
`,
	})
	write("clinic", map[string]string{
		"profile.ini":  "name = clinic\nextends = ../base\n[shift]\ndefault.slot_minutes = 15\n",
		"postgres.sql": "-- fragment: matches\nd.WD = r.WD AND r.ACTIVE\n",
	})
	p, err := mapping.LoadProfile(filepath.Join(root, "clinic"))
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := p.Statement(mapping.DialectSQLite, "shift.rows"); q != "SELECT * FROM RULES r JOIN DAYS d ON d.WD = r.WD WHERE d.D >= :from_ole" {
		t.Errorf("sqlite shift.rows = %q", q)
	}
	if q, _ := p.Statement(mapping.DialectPostgres, "shift.by_keys"); q != "SELECT * FROM RULES r JOIN DAYS d ON d.WD = r.WD AND r.ACTIVE WHERE r.ID IN (:keys)" {
		t.Errorf("postgres shift.by_keys = %q (the clinic's fragment must win)", q)
	}

	for name, files := range map[string]map[string]string{
		"unknown fragment": {"common.sql": "-- name: branch.rows\nSELECT {{cols}} FROM B\n"},
		"cycle":            {"common.sql": "-- fragment: a\n{{b}}\n-- fragment: b\n{{a}}\n-- name: branch.rows\nSELECT {{a}}\n"},
		"bad name":         {"common.sql": "-- fragment: a.b\nx\n"},
		"extends nothing":  {"profile.ini": "name = x\nextends = nosuch\n"},
		"extends itself":   {"profile.ini": "name = x\nextends = .\n"},
	} {
		dir := writeProfile(t, files)
		_, err := mapping.LoadProfile(dir)
		want := map[string]string{"unknown fragment": `common.sql line 1: statement branch.rows: {{cols}}: no fragment cols`,
			"cycle": "includes itself", "bad name": "common.sql line 1: fragment name", "extends nothing": "extends = nosuch",
			"extends itself": "circle"}[name]
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

// TestViewsErrorsNameTheView: a views user has the views, not the profile's files; an
// error named "common.sql line 40" pointed at a file they do not have.
func TestViewsErrorsNameTheView(t *testing.T) {
	db, _, _ := demo.TestDB(t, demo.SQLite)
	if _, err := db.Exec(`CREATE VIEW MEDSYNC_SPECIALTY AS SELECT 1 AS id, 'Терапия' AS name`); err != nil {
		t.Fatal(err)
	}
	p, err := mapping.LoadProfile("views")
	if err != nil {
		t.Fatal(err)
	}
	src := mapping.NewSource(db, mapping.DialectSQLite, p, mapping.SourceOptions{})
	for entity, want := range map[string][]string{
		mapping.EntitySpecialty: {"view MEDSYNC_SPECIALTY", "code"},
		mapping.EntityBranch:    {"view MEDSYNC_BRANCH", "MEDSYNC_BRANCH"},
	} {
		err := src.ReadAll(context.Background(), entity, mapping.Window{}, func(mapping.Item) error { return nil }, nil)
		if err == nil {
			t.Fatalf("%s: no error", entity)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v does not name %s", entity, err, w)
			}
		}
		if strings.Contains(err.Error(), "common.sql") {
			t.Errorf("%s: %v names a file the views user does not have", entity, err)
		}
	}
}

// TestSlotBlocked: a shift had room for one break only; slot.blocked adds any number
// of periods without slots (a second break, a meeting), here through a profile that
// extends demo.
func TestSlotBlocked(t *testing.T) {
	sz := testSizes()
	db, _, _, _ := demo.TestMIS(t, demo.SQLite, sz)
	dir := writeProfile(t, map[string]string{
		"profile.ini": "name = twobreaks\nextends = demo\n",
		// Two more blocked hours in every shift: its 2nd hour and its 5th hour.
		"common.sql": `-- name: slot.blocked
SELECT DOCT_ID AS doctor_id, WDATE AS date, BEGHOUR + 1.0/24 AS start_time, BEGHOUR + 2.0/24 AS end_time
FROM DOCTSHIFT WHERE WDATE >= :from_ole AND WDATE < :to_ole
UNION ALL
SELECT DOCT_ID, WDATE, BEGHOUR + 4.0/24, BEGHOUR + 5.0/24
FROM DOCTSHIFT WHERE WDATE >= :from_ole AND WDATE < :to_ole
`,
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := testWindow(sz)
	now := sz.Today
	plain := readAll(t, newSource(t, db, demo.SQLite, "demo", nil, now), mapping.EntitySlot, w).records
	src := mapping.NewSource(db, demo.SQLite, p, mapping.SourceOptions{Zone: moscow, Now: func() time.Time { return now }})
	blocked := readAll(t, src, mapping.EntitySlot, w).records
	shifts := map[string]*mapping.Shift{}
	for _, js := range readAll(t, src, mapping.EntityShift, w).records {
		var sh mapping.Shift
		if err := json.Unmarshal([]byte(js), &sh); err != nil {
			t.Fatal(err)
		}
		shifts[sh.ID] = &sh
	}
	if len(blocked) == 0 || len(blocked) >= len(plain) {
		t.Fatalf("%d slots with the blocked hours, %d without", len(blocked), len(plain))
	}
	for k, js := range blocked {
		var sl mapping.Slot
		if err := json.Unmarshal([]byte(js), &sl); err != nil {
			t.Fatal(err)
		}
		sh := shifts[sl.ShiftID]
		for _, h := range []int{1, 4} {
			b1, b2 := sh.Start.Add(time.Duration(h)*time.Hour), sh.Start.Add(time.Duration(h+1)*time.Hour)
			if sl.Start.Before(b2) && sl.End.After(b1) {
				t.Fatalf("slot %s (%s–%s) lies in a blocked hour of shift %s", k, sl.Start, sl.End, sh.ID)
			}
		}
	}
}

func TestDeriveSlotsBlocked(t *testing.T) {
	day := time.Date(2025, 3, 20, 0, 0, 0, 0, moscow)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	b1, b2 := at(11, 0), at(11, 30)
	sh := &mapping.Shift{ID: "s", DoctorID: "d", Start: at(9, 0), End: at(14, 0), BreakStart: &b1, BreakEnd: &b2, SlotMinutes: 30}
	got := mapping.DeriveSlotsBlocked(sh, nil, []mapping.Interval{{Start: at(9, 45), End: at(10, 15)}, {Start: at(13, 0), End: at(13, 20)}}, time.Time{})
	var starts []string
	for _, s := range got {
		starts = append(starts, s.Start.Format("15:04"))
	}
	// 09:00 | blocked 09:45–10:15 | 10:15, (10:45 would cross the break) | break | 11:30, 12:00, 12:30 | blocked 13:00–13:20 | 13:20 (13:50 would pass the end)
	if want := "09:00,10:15,11:30,12:00,12:30,13:20"; strings.Join(starts, ",") != want {
		t.Errorf("slots start at %s, want %s", strings.Join(starts, ","), want)
	}
}
