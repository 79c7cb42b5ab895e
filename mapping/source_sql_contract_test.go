package mapping_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/demo"
)

func TestStatementColumnsMustMatchContract(t *testing.T) {
	db, _, _ := demo.TestDB(t, demo.SQLite)
	dir := writeProfile(t, map[string]string{
		"profile.ini": "name = strict\n[shift]\nconvert.start_time = minutes\n",
		"sqlite.sql": `-- name: specialty.rows
SELECT 1 AS id, 'Терапевт' AS name, NULL AS code, 5 AS foo
-- name: service.rows
SELECT 1 AS id, 'Приём' AS name, NULL AS code, NULL AS specialty_id, 1500 AS price, 30 AS duration_minutes,
       'clinic' AS mode, NULL AS prepay
-- name: doctor.rows
SELECT 1 AS id, 1 AS branch_id, 1 AS specialty_id, 'Иванов' AS last_name, 'Иван' AS first_name,
       NULL AS middle_name, NULL AS snils, 1 AS online_booking, NULL AS slot_minutes
UNION ALL SELECT 1, 1, 1, 'Петров', 'Пётр', NULL, NULL, 1, 20
UNION ALL SELECT 2, 1, 1, NULL, 'Без фамилии', NULL, NULL, 1, 20
UNION ALL SELECT 3, 1, 1, 'Сидоров', 'Сидор', NULL, '112-233-445 95', 'maybe', 20
-- name: patient.versions
SELECT 1 AS id, 2 AS version, 3 AS extra
-- name: shift.rows
SELECT 1 AS id, 1 AS doctor_id, 1 AS branch_id, '2025-03-20' AS date, 540 AS start_time,
       '13:00' AS end_time, NULL AS break_start, '12:00' AS break_end, NULL AS room, NULL AS slot_minutes
`,
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	var warns []mapping.Skip
	src := mapping.NewSource(db, "sqlite", p, mapping.SourceOptions{Zone: moscow, Warn: func(s mapping.Skip) { warns = append(warns, s) }})
	ctx := context.Background()
	called := 0
	count := func(mapping.Item) error { called++; return nil }

	err = src.ReadAll(ctx, "specialty", mapping.Window{}, count, nil)
	if err == nil || !strings.Contains(err.Error(), "profile strict: specialty.rows (sqlite.sql line 1)") || !strings.Contains(err.Error(), `"foo"`) {
		t.Errorf("unexpected column: %v", err)
	}
	err = src.ReadAll(ctx, "service", mapping.Window{}, count, nil)
	if err == nil || !strings.Contains(err.Error(), "service.rows") || !strings.Contains(err.Error(), `does not return column "online_booking"`) {
		t.Errorf("missing column: %v", err)
	}
	err = src.ScanVersions(ctx, "patient", mapping.Window{}, func(k []byte, v uint64) error { called++; return nil })
	if err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("versions with extra column: %v", err)
	}
	if called != 0 {
		t.Errorf("%d records delivered from reads that failed", called)
	}

	// Bad rows skip; the duplicate key skips the second row; an invalid flag skips.
	var skips []mapping.Skip
	var doctors []*mapping.Doctor
	err = src.ReadAll(ctx, "doctor", mapping.Window{}, func(it mapping.Item) error {
		doctors = append(doctors, it.Record.(*mapping.Doctor))
		return nil
	}, func(s mapping.Skip) { skips = append(skips, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(doctors) != 1 || doctors[0].LastName != "Иванов" || doctors[0].SlotMinutes != 30 {
		t.Errorf("doctors: %+v", doctors)
	}
	want := []string{"doctor 1 (row 2): duplicate key", "doctor 2 (row 3): last_name: is empty", "doctor 3 (row 4): online_booking"}
	if len(skips) != len(want) {
		t.Fatalf("skips %v", skips)
	}
	for i, w := range want {
		if !strings.HasPrefix(skips[i].String(), w) {
			t.Errorf("skip %d = %q, want %q…", i, skips[i], w)
		}
	}

	// Times in several forms; a half-given break is dropped with a warning.
	var shifts []*mapping.Shift
	err = src.ReadAll(ctx, "shift", mapping.Window{From: time.Date(2025, 3, 20, 0, 0, 0, 0, moscow), To: time.Date(2025, 3, 21, 0, 0, 0, 0, moscow)},
		func(it mapping.Item) error { shifts = append(shifts, it.Record.(*mapping.Shift)); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(shifts) != 1 || shifts[0].Start.Format(time.RFC3339) != "2025-03-20T09:00:00+03:00" ||
		shifts[0].End.Format(time.RFC3339) != "2025-03-20T13:00:00+03:00" || shifts[0].BreakStart != nil {
		t.Errorf("shifts: %+v", shifts)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].Problem, "break") {
		t.Errorf("warnings: %v", warns)
	}

	// A callback error stops the read and comes back unchanged.
	stop := errors.New("stop")
	if err := src.ReadAll(ctx, "doctor", mapping.Window{}, func(mapping.Item) error { return stop }, func(mapping.Skip) {}); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}

func TestReadKeysChunks(t *testing.T) {
	sz := testSizes()
	sz.Patients = 1300
	db, _, _, _ := demo.TestMIS(t, demo.SQLite, sz)
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	src := mapping.NewSource(db, "sqlite", p, mapping.SourceOptions{Zone: moscow, Warn: func(mapping.Skip) {}})
	var keys []string
	for i := 1; i <= 1250; i++ {
		keys = append(keys, strconv.Itoa(i))
	}
	got := map[string]bool{}
	err = src.ReadKeys(context.Background(), "patient", keys, func(it mapping.Item) error {
		got[it.Record.RecordKey()] = true
		return nil
	}, func(mapping.Skip) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 1240 || !got["1"] || !got["1250"] || got["1251"] {
		t.Errorf("ReadKeys over 3 chunks returned %d patients", len(got))
	}
	if err := src.ReadKeys(context.Background(), "slot", keys, nil, nil); err != nil {
		t.Errorf("ReadKeys(slot): %v", err)
	}
}

func TestCharsetAndKeyFallback(t *testing.T) {
	db, _, _, st := demo.TestMIS(t, demo.SQLite, testSizes())
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var cp1251Key string
	for _, b := range st.Bad {
		if b.Table == "CLIENTS" && strings.Contains(b.Problem, "1251") {
			cp1251Key = b.Key
		}
	}
	if cp1251Key == "" {
		t.Fatal("the demo seed has no Windows-1251 patient")
	}
	for _, charset := range []string{"utf-8", "cp1251"} {
		src := mapping.NewSource(db, "sqlite", p, mapping.SourceOptions{Zone: moscow, Charset: charset, Warn: func(mapping.Skip) {}})
		var got []*mapping.Patient
		var skips []mapping.Skip
		err := src.ReadKeys(ctx, "patient", []string{cp1251Key}, func(it mapping.Item) error {
			got = append(got, it.Record.(*mapping.Patient))
			return nil
		}, func(s mapping.Skip) { skips = append(skips, s) })
		if err != nil {
			t.Fatal(err)
		}
		switch charset {
		case "utf-8":
			if len(got) != 0 || len(skips) != 1 || !strings.Contains(skips[0].Problem, "UTF-8") {
				t.Errorf("utf-8: records %v, skips %v", got, skips)
			}
		case "cp1251":
			if len(got) != 1 || got[0].LastName == "" || !strings.ContainsAny(got[0].LastName, "АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдежзиклмнопрстуфхцчшщэюя") {
				t.Errorf("cp1251: records %+v, skips %v", got, skips)
			}
		}
	}
	// doctor has no by_keys: ReadKeys filters doctor.rows.
	src := mapping.NewSource(db, "sqlite", p, mapping.SourceOptions{Zone: moscow, Warn: func(mapping.Skip) {}})
	var ids []string
	if err := src.ReadKeys(ctx, "doctor", []string{"2", "1", "9999"}, func(it mapping.Item) error {
		ids = append(ids, it.Record.RecordKey())
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "1,2" {
		t.Errorf("ReadKeys(doctor) = %v", ids)
	}
}
