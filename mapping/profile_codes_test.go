package mapping_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"medsync/mapping"
	"medsync/mapping/demo"
)

// appointmentsWithStatuses is a sqlite.sql whose appointment.rows returns one
// appointment per raw status code.
func appointmentsWithStatuses(codes ...string) string {
	var b strings.Builder
	b.WriteString("-- name: appointment.rows\n")
	for i, c := range codes {
		if i > 0 {
			b.WriteString("UNION ALL\n")
		}
		b.WriteString("SELECT '" + string(rune('a'+i)) + "' AS id, NULL AS patient_id, 'd1' AS doctor_id, 'b1' AS branch_id, '2025-03-20' AS date, " +
			"'10:00' AS start_time, '10:30' AS end_time, '" + strings.ReplaceAll(c, "'", "''") + "' AS status, NULL AS cancel_reason, NULL AS source, " +
			"NULL AS service_ids, NULL AS room, NULL AS comment, NULL AS external_id\n")
	}
	return b.String()
}

func readStatuses(t *testing.T, p *mapping.Profile) (map[string]string, []mapping.Skip, *mapping.Source) {
	t.Helper()
	db, _, _ := demo.TestDB(t, demo.SQLite)
	src := mapping.NewSource(db, mapping.DialectSQLite, p, mapping.SourceOptions{Zone: moscow})
	got := map[string]string{}
	var skips []mapping.Skip
	err := src.ReadAll(context.Background(), mapping.EntityAppointment, mapping.Window{}, func(it mapping.Item) error {
		got[it.Record.RecordKey()] = it.Record.(*mapping.Appointment).Status
		return nil
	}, func(s mapping.Skip) { skips = append(skips, s) })
	if err != nil {
		t.Fatal(err)
	}
	return got, skips, src
}

// TestMapKeepsHashAndSemicolonCodes: a "#" or ";" code after ", " used to start an ini
// comment and silently cut the rest of the map (the rows with the later codes were
// skipped and `check` passed).
func TestMapKeepsHashAndSemicolonCodes(t *testing.T) {
	dir := writeProfile(t, map[string]string{
		"profile.ini": "name = hashes\n[appointment]\nmap.status = 0:booked, #:cancelled, ;:no_show, 1:completed\n",
		"sqlite.sql":  appointmentsWithStatuses("0", "#", ";", "1"),
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, skips, _ := readStatuses(t, p)
	want := map[string]string{"a": "booked", "b": "cancelled", "c": "no_show", "d": "completed"}
	if len(skips) != 0 || len(got) != len(want) {
		t.Fatalf("read %v, skipped %v; want every row", got, skips)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("appointment %s: status %q, want %q", k, got[k], v)
		}
	}
}

// TestProfileINIInlineCommentIsAnError: a comment after a value cannot silently become
// part of it; the error names the file, the line and the key.
func TestProfileINIInlineCommentIsAnError(t *testing.T) {
	for _, ini := range []string{
		"name = c\n[shift]\n; full-line comments are fine\ndefault.room = 101 ; main building\n",
		"name = c\n[shift]\n\ndefault.room = 101 # main building\n",
	} {
		dir := writeProfile(t, map[string]string{"profile.ini": ini})
		_, err := mapping.LoadProfile(dir)
		if err == nil || !strings.Contains(err.Error(), "profile.ini line 4") || !strings.Contains(err.Error(), "default.room") ||
			!strings.Contains(err.Error(), "line of its own") {
			t.Errorf("%q: %v", ini, err)
		}
	}
	// A map entry that is not <code>:<value> (what a comment leaves behind) is an error
	// with the line.
	dir := writeProfile(t, map[string]string{"profile.ini": "name = c\n[appointment]\nmap.status = 0:booked, 1:completed ; 2 is no_show\n"})
	if _, err := mapping.LoadProfile(dir); err == nil || !strings.Contains(err.Error(), "profile.ini line 3") {
		t.Errorf("map with a trailing comment: %v", err)
	}
}

// TestUnknownCodes: a status a clinic added itself skipped the row; map.status.* gives
// such codes a value, and every unmapped code is counted per entity, column and code.
func TestUnknownCodes(t *testing.T) {
	rows := appointmentsWithStatuses("0", "7", "7", "9", "1")
	dir := writeProfile(t, map[string]string{
		"profile.ini": "name = strict\n[appointment]\nmap.status = 0:booked, 1:completed\n",
		"sqlite.sql":  rows,
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, skips, src := readStatuses(t, p)
	if len(got) != 2 || len(skips) != 3 || !strings.Contains(skips[0].Problem, "map.status.*") {
		t.Errorf("without a default: %v read, skips %v", got, skips)
	}
	codes := src.UnmappedCodes()
	if len(codes) != 2 || codes[0].Code != "7" || codes[0].Rows != 2 || codes[1].Code != "9" || codes[1].Rows != 1 ||
		codes[0].Entity != "appointment" || codes[0].Column != "status" || codes[0].Default != "" || strings.Join(codes[0].Keys, ",") != "b,c" {
		t.Errorf("unmapped codes %+v", codes)
	}

	dir = writeProfile(t, map[string]string{
		"profile.ini": "name = lenient\n[appointment]\nmap.status = 0:booked, 1:completed\nmap.status.* = booked\n",
		"sqlite.sql":  rows,
	})
	if p, err = mapping.LoadProfile(dir); err != nil {
		t.Fatal(err)
	}
	got, skips, src = readStatuses(t, p)
	if len(got) != 5 || len(skips) != 0 || got["b"] != "booked" || got["e"] != "completed" {
		t.Errorf("with map.status.* = booked: %v, skips %v", got, skips)
	}
	if codes := src.UnmappedCodes(); len(codes) != 2 || codes[0].Rows != 2 || codes[0].Default != "booked" {
		t.Errorf("unmapped codes with a default %+v", codes)
	}
	for ini, want := range map[string]string{
		"[appointment]\nmap.status.* = maybe\n": `"maybe"`,
		"[appointment]\nmap.date.* = x\n":       "code columns",
	} {
		dir := writeProfile(t, map[string]string{"profile.ini": ini})
		if _, err := mapping.LoadProfile(dir); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v", ini, err)
		}
	}
}

// TestNullPriceIsUnknown: a NULL price was sent as 0 (a free service); now it is absent
// from the record, and a 0 price stays 0.
func TestNullPriceIsUnknown(t *testing.T) {
	dir := writeProfile(t, map[string]string{
		"sqlite.sql": "-- name: service.rows\n" +
			"SELECT 's1' AS id, 'Консультация' AS name, NULL AS code, NULL AS specialty_id, NULL AS price, 30 AS duration_minutes, NULL AS mode, NULL AS prepay, 1 AS online_booking\n" +
			"UNION ALL SELECT 's2', 'Осмотр по ОМС', NULL, NULL, 0, 30, NULL, NULL, 1\n" +
			"UNION ALL SELECT 's3', 'Приём', NULL, NULL, '1500.50', 30, NULL, NULL, 1\n",
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, _, _ := demo.TestDB(t, demo.SQLite)
	src := mapping.NewSource(db, mapping.DialectSQLite, p, mapping.SourceOptions{Zone: moscow})
	got := map[string]string{}
	prices := map[string]string{}
	if err := src.ReadAll(context.Background(), mapping.EntityService, mapping.Window{}, func(it mapping.Item) error {
		b, _ := json.Marshal(it.Record)
		got[it.Record.RecordKey()] = string(b)
		k, known := it.Record.(*mapping.Service).Price()
		prices[it.Record.RecordKey()] = fmt.Sprint(k, known)
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got["s1"], "price_kopecks") || prices["s1"] != "0 false" {
		t.Errorf("NULL price: %s (%s)", got["s1"], prices["s1"])
	}
	if !strings.Contains(got["s2"], `"price_kopecks":0`) || prices["s2"] != "0 true" {
		t.Errorf("price 0: %s (%s)", got["s2"], prices["s2"])
	}
	if !strings.Contains(got["s3"], `"price_kopecks":150050`) {
		t.Errorf("price 1500.50: %s", got["s3"])
	}
}
