package demo

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"medsync/mapping/convert"
)

var testToday = time.Date(2025, time.March, 12, 0, 0, 0, 0, time.UTC)

func smallSizes() Sizes {
	return Sizes{Branches: 3, Doctors: 16, Patients: 400, Appointments: 2500, Days: 20, Today: testToday, Seed: 7, BadRows: true}
}

// OLE decoders of medsync/mapping/convert, the ones the profiles read the MIS with.
func decodeDay(v float64) time.Time {
	d, err := convert.OLEDate(v)
	if err != nil {
		return time.Time{}
	}
	return d.In(time.UTC)
}

func decodeMinutes(frac float64) (int, bool) {
	d, err := convert.DayFraction(frac)
	if err != nil || d%time.Minute != 0 {
		return 0, false
	}
	return int(d / time.Minute), true
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a\n\n-- b;\n", nil},
		{"two", "CREATE TABLE A (\n X INT\n);\nCREATE INDEX I ON A (X);\n", []string{"CREATE TABLE A (\n X INT\n)", "CREATE INDEX I ON A (X)"}},
		{"crlf and trailing without semicolon", "-- c\r\nDROP TABLE A;\r\nSELECT 1\r\n", []string{"DROP TABLE A", "SELECT 1"}},
		{"semicolon inside a line does not split", "INSERT INTO T VALUES ('a;b');\n", []string{"INSERT INTO T VALUES ('a;b')"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitStatements(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("SplitStatements(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSchemaEveryDialect(t *testing.T) {
	base := []string{"FILIALS", "SPECIALITIES", "DOCTORS", "SERVICES", "CLIENTS", "DOCTSHIFT", "DELREASONS", "SCHEDULE", "SCHEDSERV"}
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			s, err := Schema(d)
			if err != nil {
				t.Fatal(err)
			}
			tables, err := Tables(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(tables) < len(base) || !slices.Equal(tables[:len(base)], base) {
				t.Errorf("tables of %s = %v, want %v first", d, tables, base)
			}
			for _, idx := range []string{"IX_SCHEDULE_WINDOW ON SCHEDULE (WDATE, SCHEDID, MODIFYDATE)", "IX_SCHEDULE_DOCT_WDATE ON SCHEDULE (DOCT_ID, WDATE)",
				"IX_CLIENTS_PCODE_MODIFYDATE ON CLIENTS (PCODE, MODIFYDATE)", "IX_DOCTSHIFT_WDATE_DOCT ON DOCTSHIFT (WDATE, DOCT_ID)", "UX_SCHEDULE_EXT_ID"} {
				if !strings.Contains(s, idx) {
					t.Errorf("%s schema lacks index %s", d, idx)
				}
			}
		})
	}
	if _, err := Schema("oracle"); err == nil {
		t.Error("Schema(oracle) returned no error")
	}
}

func TestSchemaParts(t *testing.T) {
	fsys := fstest.MapFS{
		"schema_sqlite.sql":          {Data: []byte("CREATE TABLE BASE (ID INTEGER PRIMARY KEY);\n")},
		"schema_sqlite.zeta.sql":     {Data: []byte("CREATE TABLE ZETA (ID INTEGER, BASE_ID INTEGER);\nCREATE INDEX IX_ZETA ON ZETA (BASE_ID);")},
		"schema_sqlite.alpha.sql":    {Data: []byte("-- staff lists\nCREATE TABLE IF NOT EXISTS ALPHA (\n  ID INTEGER\n);\n")},
		"schema_postgres.other.sql":  {Data: []byte("CREATE TABLE PGONLY (ID INTEGER);\n")},
		"schema_sqlite.broken.sq":    {Data: []byte("not picked up")},
		"schema_sqlite_extra.sql":    {Data: []byte("not picked up either")},
		"schema_sqlite.sql.disabled": {Data: []byte("nor this")},
	}
	files, err := schemaFiles(fsys, SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"schema_sqlite.sql", "schema_sqlite.alpha.sql", "schema_sqlite.zeta.sql"}; !slices.Equal(files, want) {
		t.Errorf("schema files %v, want %v", files, want)
	}
	tables, err := tablesIn(fsys, SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"BASE", "ALPHA", "ZETA"}; !slices.Equal(tables, want) {
		t.Errorf("tables %v, want %v", tables, want)
	}
	db, _, _ := TestDB(t, SQLite)
	if err := createSchemaIn(context.Background(), db, fsys, SQLite); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		count(t, db, "SELECT COUNT(*) FROM "+table)
	}
	bad := fstest.MapFS{"schema_sqlite.sql": {Data: []byte("CREATE TABLE OK (ID INTEGER);\nCREATE TABEL BROKEN (ID INTEGER);\n")}}
	err = createSchemaIn(context.Background(), db, bad, SQLite)
	if err == nil || !strings.Contains(err.Error(), "schema_sqlite.sql statement 2") {
		t.Errorf("a broken statement gave %v, want an error naming file and statement", err)
	}
}

func TestSNILS(t *testing.T) {
	tests := []struct{ n, want int }{
		{112233445, 95}, // the well-known sample 112-233-445 95
		{87654303, 0},   // sum 202 → 202 mod 101 = 0 → 00
		{100000001, 10}, // 9+1
		{2056829, 0},    // sum 100 → 00
		{2046859, 0},    // sum 101 → 00

		{1001999, 65}, // 7+4+27+18+9
	}
	for _, tt := range tests {
		if got := snilsCheck(tt.n); got != tt.want {
			t.Errorf("snilsCheck(%09d) = %02d, want %02d", tt.n, got, tt.want)
		}
	}
}

func TestSlotStarts(t *testing.T) {
	tests := []struct {
		slot     int
		brk      bool
		want     int
		firstGap int // start of the first slot after the break
	}{
		{30, false, 12, 0},
		{30, true, 11, 210},
		{40, true, 7, 210}, // 0,40,80,120,(160 overlaps 180) 210,250,290; 330+40>360
		{60, false, 6, 0},
	}
	for _, tt := range tests {
		got := slotStarts(tt.slot, tt.brk)
		if len(got) != tt.want {
			t.Errorf("slotStarts(%d, %v) = %v, want %d slots", tt.slot, tt.brk, got, tt.want)
		}
		if tt.brk && !slices.Contains(got, tt.firstGap) {
			t.Errorf("slotStarts(%d, true) = %v, want a slot at %d", tt.slot, got, tt.firstGap)
		}
	}
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

type shiftKey struct{ doct, day int }
type shiftRow struct{ beg, end, bb, be int }

// checkSeeded verifies a seeded database against its sizes and stats.
func checkSeeded(t *testing.T, db *sql.DB, dialect string, sz Sizes, st Stats) {
	t.Helper()
	bad := func(table string) int {
		n := 0
		for _, b := range st.Bad {
			if b.Table == table {
				n++
			}
		}
		return n
	}
	wantBadPatients := 3
	if dialect == SQLite {
		wantBadPatients = 4
	}
	if !sz.BadRows {
		wantBadPatients = 0
	}
	if got := bad("CLIENTS"); got != wantBadPatients {
		t.Errorf("%d bad patients, want %d: %v", got, wantBadPatients, st.Bad)
	}
	counts := []struct {
		table    string
		want, st int
	}{
		{"FILIALS", sz.Branches, st.Branches},
		{"DOCTORS", sz.Doctors + bad("DOCTORS"), st.Doctors},
		{"CLIENTS", sz.Patients + bad("CLIENTS"), st.Patients},
		{"SCHEDULE", sz.Appointments + bad("SCHEDULE"), st.Appointments},
		{"DELREASONS", 5, st.DelReasons},
		{"SPECIALITIES", len(specList), st.Specialities},
	}
	for _, c := range counts {
		if got := count(t, db, "SELECT COUNT(*) FROM "+c.table); got != c.want || got != c.st {
			t.Errorf("%s has %d rows, want %d (stats say %d)", c.table, got, c.want, c.st)
		}
	}
	for _, c := range []struct {
		table string
		st    int
	}{{"SERVICES", st.Services}, {"DOCTSHIFT", st.Shifts}, {"SCHEDSERV", st.AppointmentServices}} {
		if got := count(t, db, "SELECT COUNT(*) FROM "+c.table); got != c.st || got == 0 {
			t.Errorf("%s has %d rows, stats say %d", c.table, got, c.st)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM DELREASONS WHERE TEXT = 'Болезнь врача'"); n != 1 {
		t.Errorf("DELREASONS lacks «Болезнь врача» (UTF-8 round trip)")
	}

	// Shifts: 08:00–14:00 or 14:00–20:00, breaks of 30 minutes inside.
	shifts := map[shiftKey]shiftRow{}
	rows, err := db.Query("SELECT DOCT_ID, WDATE, BEGHOUR, ENDHOUR, BREAK_BEG, BREAK_END FROM DOCTSHIFT")
	if err != nil {
		t.Fatal(err)
	}
	from, through := st.From, st.Through
	for rows.Next() {
		var doct int
		var wdate, beg, end float64
		var bb, be sql.NullFloat64
		if err := rows.Scan(&doct, &wdate, &beg, &end, &bb, &be); err != nil {
			t.Fatal(err)
		}
		day := decodeDay(wdate)
		if wdate != math.Floor(wdate) || day.Before(from) || day.After(through) {
			t.Errorf("shift of doctor %d on WDATE %v (%s) outside %s..%s", doct, wdate, day.Format(time.DateOnly), from.Format(time.DateOnly), through.Format(time.DateOnly))
		}
		b, ok1 := decodeMinutes(beg)
		e, ok2 := decodeMinutes(end)
		if !ok1 || !ok2 || !((b == 480 && e == 840) || (b == 840 && e == 1200)) {
			t.Errorf("shift of doctor %d on %s runs %v–%v", doct, day.Format(time.DateOnly), beg, end)
		}
		s := shiftRow{beg: b, end: e, bb: -1, be: -1}
		if bb.Valid {
			s.bb, _ = decodeMinutes(bb.Float64)
			s.be, _ = decodeMinutes(be.Float64)
			if s.be-s.bb != 30 || s.bb <= b || s.be >= e {
				t.Errorf("break of doctor %d on %s: %d–%d", doct, day.Format(time.DateOnly), s.bb, s.be)
			}
		}
		k := shiftKey{doct, int(wdate)}
		if _, dup := shifts[k]; dup {
			t.Errorf("two shifts of doctor %d on %s", doct, day.Format(time.DateOnly))
		}
		shifts[k] = s
	}
	rows.Close()

	// Appointments: inside a shift of their doctor, not in the break, one per slot.
	slotMin := map[int]int{}
	rows, err = db.Query("SELECT DOCT_ID, SLOT_MIN FROM DOCTORS")
	if err != nil {
		t.Fatal(err)
	}
	nullSlot := 0
	for rows.Next() {
		var id int
		var sm sql.NullInt64
		if err := rows.Scan(&id, &sm); err != nil {
			t.Fatal(err)
		}
		slotMin[id] = 30
		if sm.Valid {
			slotMin[id] = int(sm.Int64)
		} else {
			nullSlot++
		}
	}
	rows.Close()
	if nullSlot == 0 {
		t.Error("no doctor has SLOT_MIN NULL")
	}
	now := float64(int(testToday.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours()/24)) + 7.0/24
	rows, err = db.Query("SELECT SCHEDID, PCODE, DOCT_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED, DEL_REASON_ID, SOURCE, MODIFYDATE FROM SCHEDULE")
	if err != nil {
		t.Fatal(err)
	}
	taken := map[[3]int]bool{}
	var deleted, walkIns, total int
	statuses, sources := map[int]int{}, map[int]int{}
	for rows.Next() {
		var id, doct, status, del, source int
		var pcode, reason sql.NullInt64
		var wdate, bh, eh, mod float64
		if err := rows.Scan(&id, &pcode, &doct, &wdate, &bh, &eh, &status, &del, &reason, &source, &mod); err != nil {
			t.Fatal(err)
		}
		if st.IsBad("SCHEDULE", strconv.Itoa(id)) {
			continue
		}
		total++
		day := decodeDay(wdate)
		b, ok1 := decodeMinutes(bh)
		e, ok2 := decodeMinutes(eh)
		s, ok := shifts[shiftKey{doct, int(wdate)}]
		switch {
		case !ok1 || !ok2:
			t.Errorf("appointment %d: BHOUR %v / EHOUR %v are not whole minutes", id, bh, eh)
		case !ok:
			t.Errorf("appointment %d on %s: doctor %d has no shift that day", id, day.Format(time.DateOnly), doct)
		case b < s.beg || e > s.end || e-b != slotMin[doct]:
			t.Errorf("appointment %d %d–%d outside shift %d–%d or not one slot of %d min", id, b, e, s.beg, s.end, slotMin[doct])
		case s.bb >= 0 && b < s.be && e > s.bb:
			t.Errorf("appointment %d %d–%d overlaps the break %d–%d", id, b, e, s.bb, s.be)
		case s.bb >= 0 && b >= s.be && (b-s.be)%slotMin[doct] != 0, (s.bb < 0 || b < s.bb) && (b-s.beg)%slotMin[doct] != 0:
			t.Errorf("appointment %d at %d is not on a slot boundary of doctor %d", id, b, doct)
		}
		k := [3]int{doct, int(wdate), b}
		if taken[k] {
			t.Errorf("appointment %d double-books doctor %d on %s at %d", id, doct, day.Format(time.DateOnly), b)
		}
		taken[k] = true
		if mod > now+1e-9 {
			t.Errorf("appointment %d MODIFYDATE %v after the seeding now %v", id, mod, now)
		}
		if del == 1 {
			deleted++
			if !reason.Valid || reason.Int64 < 1 || reason.Int64 > 5 {
				t.Errorf("cancelled appointment %d has reason %v", id, reason)
			}
		} else if reason.Valid {
			t.Errorf("appointment %d is not cancelled but has reason %d", id, reason.Int64)
		}
		if !day.Before(testToday) && status != 0 {
			t.Errorf("future appointment %d on %s has status %d", id, day.Format(time.DateOnly), status)
		}
		if !pcode.Valid {
			walkIns++
		}
		statuses[status]++
		sources[source]++
	}
	rows.Close()
	if share := float64(deleted) / float64(total); share < 0.05 || share > 0.11 {
		t.Errorf("%.1f%% of appointments cancelled, want about 8%%", share*100)
	}
	for _, k := range []int{0, 1, 2} {
		if statuses[k] == 0 {
			t.Errorf("no appointment has STATUS %d: %v", k, statuses)
		}
	}
	for _, k := range []int{0, 1, 2, 3} {
		if sources[k] == 0 {
			t.Errorf("no appointment has SOURCE %d: %v", k, sources)
		}
	}
	if n := count(t, db, "SELECT COUNT(*) FROM SCHEDULE WHERE EXT_ID IS NOT NULL AND SOURCE <> 2"); n != 0 {
		t.Errorf("%d appointments with EXT_ID are not online bookings", n)
	}
	if n := count(t, db, "SELECT COUNT(*) FROM SCHEDULE s WHERE NOT EXISTS (SELECT 1 FROM SCHEDSERV v WHERE v.SCHEDID = s.SCHEDID)"); n != 0 {
		t.Errorf("%d appointments have no service", n)
	}

	// Doctors: СНИЛС checksums valid except the bad row.
	rows, err = db.Query("SELECT DOCT_ID, SNILS FROM DOCTORS")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var snils string
		if err := rows.Scan(&id, &snils); err != nil {
			t.Fatal(err)
		}
		_, err := convert.SNILS(snils)
		valid := err == nil && len(snils) == 14
		if valid == st.IsBad("DOCTORS", strconv.Itoa(id)) {
			t.Errorf("doctor %d SNILS %q: checksum valid = %v", id, snils, valid)
		}
	}
	rows.Close()

	// Patients: the sex of GENDER agrees with the patronymic; names are UTF-8.
	rows, err = db.Query("SELECT PCODE, LASTNAME, MIDNAME, GENDER, BDATE, PHONE1, EMAIL, SNILS FROM CLIENTS")
	if err != nil {
		t.Fatal(err)
	}
	noPhone := 0
	for rows.Next() {
		var id int
		var last, mid sql.NullString
		var gender sql.NullInt64
		var bdate sql.NullFloat64
		var phone, email, snils sql.NullString
		if err := rows.Scan(&id, &last, &mid, &gender, &bdate, &phone, &email, &snils); err != nil {
			t.Fatal(err)
		}
		var problems []string
		if phone.Valid {
			if _, err := convert.Phone(phone.String); err != nil {
				problems = append(problems, err.Error())
			}
		} else {
			noPhone++
		}
		if email.Valid {
			if _, err := convert.Email(email.String); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if snils.Valid {
			if _, err := convert.SNILS(snils.String); err != nil {
				problems = append(problems, err.Error())
			}
		}
		if !last.Valid || !utf8.ValidString(last.String) || !bdate.Valid {
			problems = append(problems, "name or birth date")
		}
		if isBad := st.IsBad("CLIENTS", strconv.Itoa(id)); isBad != (len(problems) > 0) {
			t.Errorf("patient %d (bad row: %v): problems %q", id, isBad, problems)
		}
		if len(problems) > 0 {
			continue
		}
		if y := decodeDay(bdate.Float64).Year(); y < 1930 || y > testToday.Year() {
			t.Errorf("patient %d born in %d", id, y)
		}
		male := strings.HasSuffix(mid.String, "ич")
		if mid.Valid && gender.Valid && (gender.Int64 == 1) != male && gender.Int64 != 0 {
			t.Errorf("patient %d: GENDER %d with patronymic %s", id, gender.Int64, mid.String)
		}
	}
	rows.Close()
	if noPhone == 0 {
		t.Error("every patient has a phone; some should have none")
	}
}

func TestSeedEveryDialect(t *testing.T) {
	for _, d := range []string{SQLite, Postgres, MySQL, Firebird} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sz := smallSizes()
			db, _, _, st := TestMIS(t, d, sz)
			checkSeeded(t, db, d, sz, st)
			if d == SQLite {
				var last string
				if err := db.QueryRow("SELECT LASTNAME FROM CLIENTS WHERE PCODE = ?", sz.Patients+4).Scan(&last); err != nil {
					t.Fatal(err)
				}
				if utf8.ValidString(last) || len(last) != 7 {
					t.Errorf("the Windows-1251 patient's LASTNAME is %q, want 7 non-UTF-8 bytes", last)
				}
			}
		})
	}
}

func TestSeedWithoutBadRows(t *testing.T) {
	sz := smallSizes()
	sz.BadRows = false
	db, _, _, st := TestMIS(t, SQLite, sz)
	if len(st.Bad) != 0 {
		t.Errorf("bad rows without BadRows: %v", st.Bad)
	}
	checkSeeded(t, db, SQLite, sz, st)
}

func TestSeedSpreadsIntoHistory(t *testing.T) {
	sz := Sizes{Branches: 1, Doctors: 3, Patients: 50, Appointments: 3000, Days: 10, Today: testToday, Seed: 3}
	db, _, _, st := TestMIS(t, SQLite, sz)
	if !st.From.Before(testToday.AddDate(0, 0, -60)) {
		t.Errorf("shifts start %s; 3000 appointments of 3 doctors need more than two months of history", st.From.Format(time.DateOnly))
	}
	checkSeeded(t, db, SQLite, sz, st)
	past := count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM SCHEDULE WHERE WDATE < %d", oleDay(testToday)))
	if past < 2800 {
		t.Errorf("%d of 3000 appointments in the past, want most of them", past)
	}
}

func TestSeedRejectsBadSizes(t *testing.T) {
	db, _, _ := TestDB(t, SQLite)
	if err := CreateSchema(context.Background(), db, SQLite); err != nil {
		t.Fatal(err)
	}
	for _, sz := range []Sizes{
		{Branches: -1},
		{Doctors: 2},
		{Branches: 1, Doctors: 1, Appointments: 5},
	} {
		if _, err := Seed(context.Background(), db, SQLite, sz); err == nil {
			t.Errorf("Seed(%+v) returned no error", sz)
		}
	}
}

func checksum(t *testing.T, db *sql.DB, dialect string) string {
	t.Helper()
	tables, err := Tables(dialect)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, table := range tables {
		rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1, 2")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%s %v\n", table, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestSeedDeterministic(t *testing.T) {
	sz := smallSizes()
	db1, _, _, _ := TestMIS(t, SQLite, sz)
	db2, _, _, _ := TestMIS(t, SQLite, sz)
	sz.Seed++
	db3, _, _, _ := TestMIS(t, SQLite, sz)
	a, b, c := checksum(t, db1, SQLite), checksum(t, db2, SQLite), checksum(t, db3, SQLite)
	if a != b {
		t.Errorf("the same seed gave different data: %s vs %s", a, b)
	}
	if a == c {
		t.Errorf("different seeds gave the same data")
	}
}

func TestRegisterSeeder(t *testing.T) {
	var calls atomic.Int32
	RegisterSeeder(func(ctx context.Context, db *sql.DB, dialect string, sizes Sizes) error {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM SCHEDULE").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			calls.Add(1) // the core data is committed before extra seeders run
		}
		return nil
	})
	TestMIS(t, SQLite, Sizes{Branches: 1, Doctors: 2, Patients: 5, Appointments: 10, Today: testToday})
	if calls.Load() == 0 {
		t.Error("the registered seeder did not run after the core data")
	}
}

func TestInit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "data", "demo.db")
	sz := Sizes{Branches: 2, Doctors: 5, Patients: 40, Appointments: 200, Today: testToday, Seed: 1, BadRows: true}
	st, err := Init(ctx, "sqlite", path, sz)
	if err != nil {
		t.Fatal(err)
	}
	if st.Appointments != 202 {
		t.Errorf("Init seeded %d appointments, want 200 + 2 bad", st.Appointments)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	_, err = Init(ctx, "sqlite", path, sz)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("second Init: %v, want ErrExists with a hint", err)
	}
	sz.Replace = true
	sz.Appointments = 300
	if st, err = Init(ctx, "sqlite", "file:"+path+"?_pragma=busy_timeout(5000)", sz); err != nil || st.Appointments != 302 {
		t.Fatalf("Init with Replace: %v, %d appointments", err, st.Appointments)
	}
	if _, err := Init(ctx, "oracle", "x", sz); err == nil {
		t.Error("Init with an unknown driver returned no error")
	}
}

func TestInitPostgres(t *testing.T) {
	_, driver, dsn := TestDB(t, Postgres)
	sz := Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 50, Today: testToday, BadRows: true}
	if _, err := Init(context.Background(), driver, dsn, sz); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(context.Background(), driver, dsn, sz); !errors.Is(err, ErrExists) {
		t.Errorf("second Init: %v, want ErrExists", err)
	}
}

// TestInitFirebird: `medsync demo init` with driver = firebird creates the database file
// when it is missing, seeds it, and refuses a second run.
func TestInitFirebird(t *testing.T) {
	dsn := TestFirebird(t, "UTF8")
	db, err := sql.Open("firebirdsql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	sz := Sizes{Branches: 1, Doctors: 3, Patients: 20, Appointments: 50, Today: testToday, BadRows: true}
	if _, err := Init(context.Background(), "firebird", dsn, sz); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(context.Background(), "firebird", dsn, sz); !errors.Is(err, ErrExists) {
		t.Errorf("second Init: %v, want ErrExists", err)
	}
	sz.Replace = true
	if _, err := Init(context.Background(), "firebird", dsn, sz); err != nil {
		t.Errorf("Init with Replace: %v", err)
	}
	// A database that does not exist yet is created.
	missing := strings.Replace(dsn, ".fdb", "_new.fdb", 1)
	u, _ := url.Parse("firebird://" + missing)
	t.Cleanup(func() { os.Remove(u.Path) })
	if _, err := Init(context.Background(), "firebird", missing, sz); err != nil {
		t.Errorf("Init of a missing database: %v", err)
	}
}

// TestInitEveryConfigDriverName: demo init takes the driver names config.ini takes
// (postgres was refused with `sql: unknown driver "postgres"`).
func TestInitEveryConfigDriverName(t *testing.T) {
	sz := Sizes{Branches: 1, Doctors: 2, Patients: 10, Appointments: 10, Today: testToday}
	for _, c := range []struct{ dialect, driver string }{{Postgres, "postgres"}, {Postgres, "postgresql"}, {MySQL, "mariadb"}, {SQLite, "sqlite3"}, {Firebird, "firebird"}} {
		t.Run(c.driver, func(t *testing.T) {
			_, _, dsn := TestDB(t, c.dialect)
			if _, err := Init(context.Background(), c.driver, dsn, sz); err != nil {
				t.Fatalf("Init(%s): %v", c.driver, err)
			}
		})
	}
}

func modifyDate(t *testing.T, db *sql.DB, dialect, table, key string, id int) float64 {
	t.Helper()
	var v float64
	if err := db.QueryRow(rebind(dialect, "SELECT MODIFYDATE FROM "+table+" WHERE "+key+" = ?"), id).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMutations(t *testing.T) {
	for _, d := range []string{SQLite, Postgres, MySQL, Firebird} {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			sz := Sizes{Branches: 2, Doctors: 4, Patients: 30, Appointments: 100, Days: 10, Today: time.Now(), Seed: 5}
			db, _, _, _ := TestMIS(t, d, sz)
			q := func(s string) string { return rebind(d, s) }
			bump := func(name string, id int, fn func() error) {
				t.Helper()
				before := modifyDate(t, db, d, "SCHEDULE", "SCHEDID", id)
				if err := fn(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if after := modifyDate(t, db, d, "SCHEDULE", "SCHEDID", id); !(after > before) {
					t.Errorf("%s: MODIFYDATE %v → %v, want it to grow", name, before, after)
				}
			}
			const id = 10
			var deleted, reason sql.NullInt64
			bump("cancel", id, func() error { return CancelAppointment(ctx, db, d, id, 2) })
			if err := db.QueryRow(q("SELECT DELETED, DEL_REASON_ID FROM SCHEDULE WHERE SCHEDID = ?"), id).Scan(&deleted, &reason); err != nil {
				t.Fatal(err)
			}
			if deleted.Int64 != 1 || reason.Int64 != 2 {
				t.Errorf("after cancel DELETED=%v reason=%v", deleted, reason)
			}
			bump("restore", id, func() error { return RestoreAppointment(ctx, db, d, id) })
			if err := db.QueryRow(q("SELECT DELETED, DEL_REASON_ID FROM SCHEDULE WHERE SCHEDID = ?"), id).Scan(&deleted, &reason); err != nil {
				t.Fatal(err)
			}
			if deleted.Int64 != 0 || reason.Valid {
				t.Errorf("after restore DELETED=%v reason=%v", deleted, reason)
			}
			// A clock behind the stored version still moves it forward.
			Now = func() time.Time { return time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) }
			bump("status with a clock in the past", id, func() error { return SetAppointmentStatus(ctx, db, d, id, 2) })
			Now = time.Now

			start := time.Date(2030, 5, 6, 15, 20, 0, 0, time.UTC)
			bump("move", id, func() error { return MoveAppointment(ctx, db, d, id, start) })
			var wdate, bh, eh float64
			if err := db.QueryRow(q("SELECT WDATE, BHOUR, EHOUR FROM SCHEDULE WHERE SCHEDID = ?"), id).Scan(&wdate, &bh, &eh); err != nil {
				t.Fatal(err)
			}
			b, _ := decodeMinutes(bh)
			e, _ := decodeMinutes(eh)
			if !decodeDay(wdate).Equal(time.Date(2030, 5, 6, 0, 0, 0, 0, time.UTC)) || b != 15*60+20 || e <= b {
				t.Errorf("after move: %s %d–%d", decodeDay(wdate).Format(time.DateOnly), b, e)
			}

			newID, err := AddAppointment(ctx, db, d, NewAppointment{PatientID: 3, DoctorID: 2, Start: start.Add(2 * time.Hour),
				Source: 2, ExtID: "ondoc-42", Services: []int{1, 2}})
			if err != nil {
				t.Fatal(err)
			}
			var ext string
			var pcode, branch int
			if err := db.QueryRow(q("SELECT EXT_ID, PCODE, FILIAL_ID FROM SCHEDULE WHERE SCHEDID = ?"), newID).Scan(&ext, &pcode, &branch); err != nil {
				t.Fatal(err)
			}
			if ext != "ondoc-42" || pcode != 3 || branch != 2 {
				t.Errorf("added appointment %d: EXT_ID %q PCODE %d FILIAL_ID %d", newID, ext, pcode, branch)
			}
			if n := count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM SCHEDSERV WHERE SCHEDID = %d", newID)); n != 2 {
				t.Errorf("added appointment has %d services, want 2", n)
			}
			if _, err := AddAppointment(ctx, db, d, NewAppointment{DoctorID: 1, Start: start, ExtID: "ondoc-42"}); err == nil {
				t.Error("a second appointment with the same EXT_ID was accepted")
			}
			if err := DeleteAppointment(ctx, db, d, newID); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM SCHEDULE WHERE SCHEDID = %d", newID)) +
				count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM SCHEDSERV WHERE SCHEDID = %d", newID)); n != 0 {
				t.Errorf("hard delete left %d rows", n)
			}
			if err := DeleteAppointment(ctx, db, d, newID); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleting a deleted appointment: %v, want ErrNotFound", err)
			}
			if err := CancelAppointment(ctx, db, d, 999999, 1); !errors.Is(err, ErrNotFound) {
				t.Errorf("cancelling a missing appointment: %v, want ErrNotFound", err)
			}

			before := modifyDate(t, db, d, "CLIENTS", "PCODE", 7)
			if err := DeletePatient(ctx, db, d, 7); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM CLIENTS WHERE PCODE = 7 AND DELETED = 1"); n != 1 || modifyDate(t, db, d, "CLIENTS", "PCODE", 7) <= before {
				t.Error("DeletePatient did not mark the card deleted with a newer MODIFYDATE")
			}
			if err := UpdateRow(ctx, db, d, "CLIENTS", 8, map[string]any{"PHONE1": "8 (917) 000-00-01", "LINK_REQUEST": 1}); err != nil {
				t.Fatal(err)
			}
			if n := count(t, db, "SELECT COUNT(*) FROM CLIENTS WHERE PCODE = 8 AND LINK_REQUEST = 1 AND PHONE1 = '8 (917) 000-00-01'"); n != 1 {
				t.Error("UpdateRow did not set the columns")
			}
			if err := UpdateRow(ctx, db, d, "CLIENTS", 8, map[string]any{"PHONE1 = NULL --": 1}); err == nil {
				t.Error("UpdateRow accepted a column name that is not an identifier")
			}
		})
	}
}

func BenchmarkSeed100k(b *testing.B) {
	sz := Sizes{Branches: 3, Doctors: 40, Patients: 20000, Appointments: 100_000, Days: 60, Today: testToday, Seed: 1}
	for _, d := range []string{SQLite, Postgres, MySQL} {
		b.Run(d, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				db, _, _ := TestDB(b, d)
				if err := CreateSchema(context.Background(), db, d); err != nil {
					b.Fatal(err)
				}
				if _, err := Seed(context.Background(), db, d, sz); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeed1M is the size target: a million appointments into SQLite in well under
// a minute (go test -run '^$' -bench Seed1M -benchtime 1x ./mapping/demo/).
func BenchmarkSeed1M(b *testing.B) {
	sz := Sizes{Branches: 3, Doctors: 40, Patients: 50000, Appointments: 1_000_000, Days: 60, Today: testToday, Seed: 1}
	for i := 0; i < b.N; i++ {
		db, _, _ := TestDB(b, SQLite)
		if err := CreateSchema(context.Background(), db, SQLite); err != nil {
			b.Fatal(err)
		}
		st, err := Seed(context.Background(), db, SQLite, sz)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(st.Elapsed.Seconds(), "s/seed")
	}
}

func TestDefaultSizes(t *testing.T) {
	sz := DefaultSizes()
	if sz.Branches != 3 || sz.Doctors != 40 || sz.Patients != 5000 || sz.Appointments != 8000 || sz.Days != 60 || !sz.BadRows {
		t.Fatalf("DefaultSizes() = %+v", sz)
	}
	sz.Today = testToday
	db, _, _, st := TestMIS(t, SQLite, sz)
	checkSeeded(t, db, SQLite, sz, st)
	if want := testToday.AddDate(0, 0, -30); !st.From.Equal(want) || !st.Through.Equal(testToday.AddDate(0, 0, 29)) {
		t.Errorf("default shifts run %s..%s, want 30 days back and 30 ahead", st.From.Format(time.DateOnly), st.Through.Format(time.DateOnly))
	}
	future := count(t, db, fmt.Sprintf("SELECT COUNT(*) FROM SCHEDULE WHERE WDATE >= %d", oleDay(testToday)))
	if future < 1000 || future > 4000 {
		t.Errorf("%d of 8000 appointments from today on, want a sparser future than past", future)
	}
	t.Logf("seeded %+v", st)
}
