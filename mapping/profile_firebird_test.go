package mapping_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

// TestFirebirdBookLockBlocks: the demo profile's write.book_lock on Firebird really
// locks the doctor's row when the connector runs it with Exec (a plain SELECT … WITH
// LOCK takes no lock unless its row is fetched): a second transaction waits for it.
func TestFirebirdBookLockBlocks(t *testing.T) {
	sz := demo.Sizes{Branches: 1, Doctors: 2, Patients: 5, Appointments: 5, Days: 5, Today: time.Now(), Seed: 3}
	db, _, _, _ := demo.TestMIS(t, demo.Firebird, sz)
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	w := mapping.NewWriter(db, mapping.DialectFirebird, p)
	ctx := context.Background()
	var doctor int
	if err := db.QueryRowContext(ctx, "SELECT MIN(DOCT_ID) FROM DOCTORS").Scan(&doctor); err != nil {
		t.Fatal(err)
	}
	lock := func(ctx context.Context, tx connectors.MISTx) error {
		_, err := tx.Exec(ctx, "write.book_lock", map[string]any{"doctor_id": doctor})
		return err
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- w.Tx(ctx, func(tx connectors.MISTx) error {
			if err := lock(ctx, tx); err != nil {
				close(held)
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	// While the first transaction holds the lock, a second one cannot take it.
	short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	err = w.Tx(short, func(tx connectors.MISTx) error { return lock(short, tx) })
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first lock: %v", err)
	}
	if err == nil {
		t.Fatal("a second transaction took the doctor's lock while the first held it")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, sql.ErrConnDone) && !strings.Contains(err.Error(), "deadline") &&
		!strings.Contains(strings.ToLower(err.Error()), "lock") && !strings.Contains(strings.ToLower(err.Error()), "conflict") {
		t.Errorf("second lock failed for another reason: %v", err)
	}
	// Released: the next transaction takes it at once.
	if err := w.Tx(ctx, func(tx connectors.MISTx) error { return lock(ctx, tx) }); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
}

// TestFirebirdWIN1251 reads a Firebird database whose default character set is WIN1251
// (as Инфоклиника and other long-lived MIS create them): Cyrillic names come out the
// same through a WIN1251 connection (the driver decodes) and a UTF8 one (the server
// converts), and equal to what was written.
func TestFirebirdWIN1251(t *testing.T) {
	ctx := context.Background()
	dsn := demo.TestFirebird(t, "WIN1251")
	sz := testSizes()
	seed, err := sql.Open("firebirdsql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	if err := demo.CreateSchema(ctx, seed, demo.Firebird); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Seed(ctx, seed, demo.Firebird, sz); err != nil {
		t.Fatal(err)
	}
	var cs string
	if err := seed.QueryRowContext(ctx, "SELECT TRIM(RDB$CHARACTER_SET_NAME) FROM RDB$DATABASE").Scan(&cs); err != nil || cs != "WIN1251" {
		t.Fatalf("database character set %q (%v), want WIN1251", cs, err)
	}
	const name = "Ёлкина-Щукина"
	if _, err := seed.ExecContext(ctx, "UPDATE CLIENTS SET LASTNAME = ? WHERE PCODE = 1", name); err != nil {
		t.Fatal(err)
	}
	w := testWindow(sz)
	read := func(connCharset string) map[string]string {
		t.Helper()
		d := strings.Replace(dsn, "charset=WIN1251", "charset="+connCharset, 1)
		db, dialect, err := mapping.OpenDB(ctx, "firebird", d)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		src := newSource(t, db, dialect, "demo", nil, time.Date(2025, 3, 20, 12, 0, 0, 0, moscow))
		return readAll(t, src, mapping.EntityPatient, w).records
	}
	viaWin, viaUTF := read("WIN1251"), read("UTF8")
	if len(viaWin) == 0 || len(viaWin) != len(viaUTF) {
		t.Fatalf("%d patients through WIN1251, %d through UTF8", len(viaWin), len(viaUTF))
	}
	for k, v := range viaWin {
		if viaUTF[k] != v {
			t.Fatalf("patient %s: WIN1251 connection %s, UTF8 connection %s", k, v, viaUTF[k])
		}
	}
	var p mapping.Patient
	if err := json.Unmarshal([]byte(viaWin["1"]), &p); err != nil || p.LastName != name {
		t.Errorf("patient 1 last name %q (%v), want %q", p.LastName, err, name)
	}
	cyr := 0
	for _, v := range viaWin {
		if strings.ContainsAny(v, "АБВГДЕЖЗИКЛМНОПРСТУФХЦЧШЩЭЮЯ") {
			cyr++
		}
	}
	if cyr < len(viaWin)/2 {
		t.Errorf("only %d of %d patients have Cyrillic text", cyr, len(viaWin))
	}
}

// TestServerClock reads each server's local time (check compares it with the
// configured zone): within a day of now, on a quarter-hour zone offset.
func TestServerClock(t *testing.T) {
	for _, d := range []string{demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(d, func(t *testing.T) {
			db, _, _ := demo.TestDB(t, d)
			now := time.Now()
			wall, ok, err := mapping.ServerClock(context.Background(), db, d)
			if err != nil || !ok {
				t.Fatalf("ServerClock: %v, %v", ok, err)
			}
			off := mapping.ClockOffset(wall, now, time.UTC)
			if off.Abs() > 14*time.Hour || off%(15*time.Minute) != 0 {
				t.Errorf("server clock %s is %s from UTC %s", wall, off, now.UTC())
			}
		})
	}
	if _, ok, _ := mapping.ServerClock(context.Background(), nil, mapping.DialectSQLite); ok {
		t.Error("SQLite has no server clock")
	}
}

// TestFirebirdNoneCharsetWIN1251Text: old Firebird databases are often created with
// CHARACTER SET NONE and hold Windows-1251 text. Read with charset=WIN1251 in the DSN the
// driver decodes it; read through a UTF8 connection the bytes arrive as they are, and
// [mis] charset = cp1251 decodes them. Either way the names come out right.
func TestFirebirdNoneCharsetWIN1251Text(t *testing.T) {
	ctx := context.Background()
	dsn := demo.TestFirebird(t, "NONE")
	win := strings.Replace(dsn, "charset=NONE", "charset=WIN1251", 1)
	seed, err := sql.Open("firebirdsql", win)
	if err != nil {
		t.Fatal(err)
	}
	defer seed.Close()
	if err := demo.CreateSchema(ctx, seed, demo.Firebird); err != nil {
		t.Fatal(err)
	}
	sz := demo.Sizes{Branches: 1, Doctors: 2, Patients: 30, Appointments: 10, Days: 5, Today: testSizes().Today, Seed: 3}
	if _, err := demo.Seed(ctx, seed, demo.Firebird, sz); err != nil {
		t.Fatal(err)
	}
	const name = "Ёлкина"
	if _, err := seed.ExecContext(ctx, "UPDATE CLIENTS SET LASTNAME = ? WHERE PCODE = 1", name); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	utf, err := sql.Open("firebirdsql", strings.Replace(dsn, "charset=NONE", "charset=UTF8", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer utf.Close()
	if err := utf.QueryRowContext(ctx, "SELECT LASTNAME FROM CLIENTS WHERE PCODE = 1").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != len([]rune(name)) {
		t.Fatalf("stored %q (% x): want one byte per letter (Windows-1251 in a NONE column)", raw, raw)
	}
	read := func(connCharset, misCharset string) string {
		t.Helper()
		db, dialect, err := mapping.OpenDB(ctx, "firebird", strings.Replace(dsn, "charset=NONE", "charset="+connCharset, 1))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		src := mapping.NewSource(db, dialect, mustProfile(t, "demo"), mapping.SourceOptions{Zone: moscow, Charset: misCharset})
		var last string
		err = src.ReadKeys(ctx, mapping.EntityPatient, []string{"1"}, func(it mapping.Item) error {
			last = it.Record.(*mapping.Patient).LastName
			return nil
		}, func(s mapping.Skip) { t.Errorf("%s/%s: skipped: %s", connCharset, misCharset, s) })
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	if got := read("WIN1251", "utf-8"); got != name {
		t.Errorf("charset=WIN1251 in the DSN: %q, want %q", got, name)
	}
	if got := read("UTF8", "cp1251"); got != name {
		t.Errorf("UTF8 connection, [mis] charset = cp1251: %q, want %q", got, name)
	}
}

func mustProfile(t *testing.T, name string) *mapping.Profile {
	t.Helper()
	p, err := mapping.LoadProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFirebirdBookInsertIDsNeverCollide: two bookings of different doctors at once (the
// doctor lock does not serialise them) got the same MAX(SCHEDID) + 1, and the second
// waited for the first and then failed; the generator gives each its own id.
func TestFirebirdBookInsertIDsNeverCollide(t *testing.T) {
	sz := demo.Sizes{Branches: 1, Doctors: 2, Patients: 5, Appointments: 5, Days: 5, Today: time.Now(), Seed: 3}
	db, _, _, _ := demo.TestMIS(t, demo.Firebird, sz)
	w := mapping.NewWriter(db, mapping.DialectFirebird, mustProfile(t, "demo"))
	ctx := context.Background()
	var d1, d2, patient int
	if err := db.QueryRowContext(ctx, "SELECT MIN(DOCT_ID), MAX(DOCT_ID) FROM DOCTORS").Scan(&d1, &d2); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT MIN(PCODE) FROM CLIENTS").Scan(&patient); err != nil {
		t.Fatal(err)
	}
	insert := func(ctx context.Context, tx connectors.MISTx, doctor int, ext string) error {
		_, err := tx.Exec(ctx, "write.book_insert", map[string]any{"patient_id": patient, "doctor_id": doctor, "branch_id": nil,
			"ole_date": 47000.0, "ole_start": 0.4, "ole_end": 0.42, "comment": nil, "ext_id": ext, "ole_now": 46999.5})
		return err
	}
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- w.Tx(ctx, func(tx connectors.MISTx) error {
			err := insert(ctx, tx, d1, "gen-a")
			close(held)
			if err != nil {
				return err
			}
			<-release
			return nil
		})
	}()
	<-held
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := w.Tx(short, func(tx connectors.MISTx) error { return insert(short, tx, d2, "gen-b") })
	cancel()
	close(release)
	if ferr := <-done; ferr != nil {
		t.Fatalf("first booking: %v", ferr)
	}
	if err != nil {
		t.Fatalf("a booking of another doctor, made while the first was open: %v", err)
	}
	var n, ids int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT SCHEDID) FROM SCHEDULE WHERE EXT_ID IN ('gen-a', 'gen-b')").Scan(&n, &ids); err != nil || n != 2 || ids != 2 {
		t.Errorf("%d rows with %d ids (%v), want 2 and 2", n, ids, err)
	}
	// demo.AddAppointment takes the generator too: no collision with the bookings.
	if _, err := demo.AddAppointment(ctx, db, demo.Firebird, demo.NewAppointment{PatientID: patient, DoctorID: d1, Start: time.Now().AddDate(0, 0, 3)}); err != nil {
		t.Errorf("AddAppointment after the bookings: %v", err)
	}
}
