package app

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "medsync/connectors/file"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
	"medsync/service/config"
)

// line is one line of the file connector's output.
type line struct {
	Entity         string          `json:"entity"`
	Op             string          `json:"op"`
	Key            string          `json:"key"`
	IdempotencyKey string          `json:"idempotency_key"`
	At             string          `json:"at"`
	Data           json.RawMessage `json:"data"`
}

type pipe struct {
	t       testing.TB
	dir     string
	cfg     *config.Config
	out     string
	offset  int // lines already consumed
	dialect string
	chunk   int // engine.Options.Chunk; 0: the default
}

func configDriver(driver string) string {
	if driver == "pgx" {
		return "postgres"
	}
	return driver
}

// writeConfig writes a config.ini for the given MIS into dir and loads it.
func writeConfig(t testing.TB, dir, driver, dsn, extra string) *config.Config {
	return writeConfigWindow(t, dir, driver, dsn, 3, 10, extra)
}

// writeConfigWindow is writeConfig with a chosen window.
func writeConfigWindow(t testing.TB, dir, driver, dsn string, back, ahead int, extra string) *config.Config {
	t.Helper()
	ini := fmt.Sprintf(`[service]
interval = 5
state_dir = state
timezone = Europe/Moscow

[mis]
driver = %s
dsn = %s
profile = demo
days_back = %d
days_ahead = %d

[guard]
max_delete_share = 0.5
min_delete_count = 5

[connector.file]
path = out/events.jsonl
%s`, configDriver(driver), dsn, back, ahead, extra)
	return config.WriteForTest(t, dir, ini)
}

func (p *pipe) once() *OnceResult {
	p.t.Helper()
	a, err := Open(context.Background(), p.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Chunk: p.chunk})
	if err != nil {
		p.t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Once(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// newLines returns the output lines written since the last call.
func (p *pipe) newLines() []line {
	p.t.Helper()
	f, err := os.Open(p.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	var out []line
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		if n <= p.offset {
			continue
		}
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			p.t.Fatalf("line %d is not JSON: %v: %s", n, err, sc.Text())
		}
		out = append(out, l)
	}
	p.offset = n
	return out
}

func only(t *testing.T, lines []line, entity string) []line {
	t.Helper()
	var out []line
	for _, l := range lines {
		if l.Entity == entity {
			out = append(out, l)
		}
	}
	return out
}

func TestPipelineDemoMIS(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testPipeline(t, dialect) })
	}
}

func testPipeline(t *testing.T, dialect string) {
	ctx := context.Background()
	msk, _ := time.LoadLocation("Europe/Moscow")
	today := time.Now().In(msk)
	sizes := demo.Sizes{Branches: 2, Doctors: 6, Patients: 150, Appointments: 400, Days: 20, Today: today, Seed: 7, BadRows: true}
	db, driver, dsn, st := demo.TestMIS(t, dialect, sizes)
	dir := t.TempDir()
	p := &pipe{t: t, dir: dir, cfg: writeConfig(t, dir, driver, dsn, ""), out: filepath.Join(dir, "out", "events.jsonl"), dialect: dialect}

	// First poll: everything goes out; the deliberately bad rows are skipped.
	r := p.once()
	if !r.Poll.OK() {
		t.Fatalf("first poll failed: %v", r.Poll.Err())
	}
	skipped := 0
	for _, e := range r.Poll.Entities {
		skipped += e.Skipped
	}
	if st.Bad != nil && skipped == 0 {
		t.Errorf("the demo's bad rows (%d) were not reported as skipped", len(st.Bad))
	}
	first := p.newLines()
	for _, ent := range []string{mapping.EntityBranch, mapping.EntityDoctor, mapping.EntityService, mapping.EntityPatient, mapping.EntityShift, mapping.EntityAppointment, mapping.EntitySlot} {
		if len(only(t, first, ent)) == 0 {
			t.Errorf("first poll sent no %s", ent)
		}
	}
	for _, l := range first {
		if l.Op != "upsert" || l.IdempotencyKey == "" || len(l.Data) == 0 {
			t.Fatalf("bad first-poll line %+v", l)
		}
		if ts, err := time.Parse(time.RFC3339, l.At); err != nil || strings.HasSuffix(l.At, "Z") {
			t.Fatalf("at %q is not RFC 3339 with an explicit offset (%v, %v)", l.At, ts, err)
		}
	}

	// An unchanged poll adds nothing.
	if r := p.once(); !r.Poll.OK() {
		t.Fatal(r.Poll.Err())
	}
	if l := p.newLines(); len(l) != 0 {
		t.Fatalf("unchanged poll wrote %d lines, first %+v", len(l), l[0])
	}

	// Pick a booked appointment two days ahead.
	id := pickAppointment(t, db, dialect, today.AddDate(0, 0, 2))
	key := fmt.Sprint(id)
	appt := func(lines []line) mapping.Appointment {
		t.Helper()
		a := only(t, lines, mapping.EntityAppointment)
		if len(a) != 1 || a[0].Key != key {
			t.Fatalf("want one appointment event for %s, got %+v", key, a)
		}
		var out mapping.Appointment
		if a[0].Op == "upsert" {
			if err := json.Unmarshal(a[0].Data, &out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}

	// Edit: moved one day later at 10:00 local time.
	newStart := time.Date(today.Year(), today.Month(), today.Day()+3, 10, 0, 0, 0, msk)
	must(t, demo.MoveAppointment(ctx, db, dialect, id, newStart))
	p.once()
	got := appt(p.newLines())
	if !got.Start.Equal(newStart) {
		t.Fatalf("moved appointment starts %v, want %v", got.Start, newStart)
	}
	if _, off := got.Start.Zone(); off != 3*3600 {
		t.Fatalf("start %v does not carry Moscow's offset", got.Start)
	}

	// Soft cancel with a reason.
	must(t, demo.CancelAppointment(ctx, db, dialect, id, 1))
	p.once()
	got = appt(p.newLines())
	if got.Status != mapping.StatusCancelled || got.CancelReason == "" {
		t.Fatalf("cancelled appointment: %+v", got)
	}

	// Restore.
	must(t, demo.RestoreAppointment(ctx, db, dialect, id))
	p.once()
	if got = appt(p.newLines()); got.Status != mapping.StatusBooked {
		t.Fatalf("restored appointment: %+v", got)
	}

	// Moved out of the window: an upsert with the new date, never a delete.
	must(t, demo.MoveAppointment(ctx, db, dialect, id, newStart.AddDate(0, 2, 0)))
	p.once()
	lines := p.newLines()
	if a := only(t, lines, mapping.EntityAppointment); len(a) != 1 || a[0].Op != "upsert" {
		t.Fatalf("appointment moved out of the window: %+v", a)
	}
	// Hard delete of another appointment, still in its original slot: a delete
	// event, and its slot is sent as free.
	id2 := pickAppointment(t, db, dialect, today.AddDate(0, 0, 4))
	var start2 time.Time
	for _, l := range only(t, first, mapping.EntityAppointment) {
		if l.Key == fmt.Sprint(id2) {
			var a mapping.Appointment
			must(t, json.Unmarshal(l.Data, &a))
			start2 = a.Start
		}
	}
	must(t, demo.DeleteAppointment(ctx, db, dialect, id2))
	p.once()
	lines = p.newLines()
	if a := only(t, lines, mapping.EntityAppointment); len(a) != 1 || a[0].Op != "delete" || a[0].Key != fmt.Sprint(id2) {
		t.Fatalf("hard delete: %+v", a)
	}
	freed := false
	for _, l := range only(t, lines, mapping.EntitySlot) {
		var s mapping.Slot
		_ = json.Unmarshal(l.Data, &s)
		if l.Op == "upsert" && s.Free && s.Start.Equal(start2) {
			freed = true
		}
	}
	if !freed {
		t.Errorf("the deleted appointment's slot at %v was not sent as free; slot events: %+v", start2, only(t, lines, mapping.EntitySlot))
	}
	// Unchanged again.
	p.once()
	if l := p.newLines(); len(l) != 0 {
		t.Fatalf("unchanged poll wrote %d lines", len(l))
	}

	// The appointments table disappears (a DBA's mistake, a restore in progress): the
	// read fails, the poll reports it, and not one appointment is deleted.
	off, on := "ALTER TABLE SCHEDULE RENAME TO SCHEDULE_OFF", "ALTER TABLE SCHEDULE_OFF RENAME TO SCHEDULE"
	if dialect == demo.Firebird { // Firebird cannot rename a table: its column goes instead
		off, on = "ALTER TABLE SCHEDULE ALTER COLUMN MODIFYDATE TO MODIFYDATE_OFF", "ALTER TABLE SCHEDULE ALTER COLUMN MODIFYDATE_OFF TO MODIFYDATE"
	}
	_, err := db.ExecContext(ctx, off)
	must(t, err)
	r = p.once()
	if r.Poll.OK() || !r.Failed() {
		t.Fatal("a poll whose appointment read failed reported success")
	}
	for _, l := range p.newLines() {
		if l.Op == "delete" {
			t.Fatalf("a failed read produced a delete: %+v", l)
		}
	}
	_, err = db.ExecContext(ctx, on)
	must(t, err)
	if r = p.once(); !r.Poll.OK() {
		t.Fatal(r.Poll.Err())
	}
	if l := p.newLines(); len(l) != 0 {
		t.Fatalf("after the table came back, %d lines (want none: nothing changed)", len(l))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pickAppointment(t *testing.T, db *sql.DB, dialect string, day time.Time) int {
	t.Helper()
	// The first day from day on that has one: the demo doctors do not all work every
	// day (a run just after midnight may land on a Sunday).
	for n := 0; n < 7; n++ {
		ole := convert.ToOLE(convert.FromTime(day.AddDate(0, 0, n)))
		var id sql.NullInt64
		q := fmt.Sprintf("SELECT MIN(SCHEDID) FROM SCHEDULE WHERE DELETED = 0 AND STATUS = 0 AND PCODE IS NOT NULL AND WDATE = %d", int(ole))
		if err := db.QueryRowContext(context.Background(), q).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if id.Valid {
			return int(id.Int64)
		}
	}
	t.Fatalf("no booked appointment in the week from %s in the demo MIS (%s)", day.Format("2006-01-02"), dialect)
	return 0
}
