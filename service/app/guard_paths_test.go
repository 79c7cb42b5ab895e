package app

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/mapping/demo"
	"medsync/service/engine"
	"medsync/service/store"
)

// syncBuffer is a log sink safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// onceLogged is pipe.once with the log kept.
func (p *pipe) onceLogged(log *syncBuffer) *OnceResult {
	p.t.Helper()
	a, err := Open(context.Background(), p.cfg, slog.New(slog.NewTextHandler(log, nil)), Options{Chunk: p.chunk})
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

// unreadableTime is a value of SCHEDULE.EHOUR (a day fraction) the profile cannot
// convert: text where the column takes it (SQLite), else a fraction outside 0..1.
func unreadableTime(dialect string) any {
	if dialect == demo.SQLite {
		return "x"
	}
	return -1.0
}

// TestUnreadableVanishedRecordIsNotDeleted is issue 9 hole 2: an appointment moved
// out of the window whose row can no longer be decoded. The look-up by key that
// confirms a vanished record must count the row as present — no delete, a "row
// skipped" log line naming entity, key and column — and keep its snapshot state, so
// that it is looked up again and sent once it can be read.
func TestUnreadableVanishedRecordIsNotDeleted(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testUnreadableVanished(t, dialect) })
	}
}

func testUnreadableVanished(t *testing.T, dialect string) {
	ctx := context.Background()
	msk, _ := time.LoadLocation("Europe/Moscow")
	today := time.Now().In(msk)
	sizes := demo.Sizes{Branches: 1, Doctors: 4, Patients: 80, Appointments: 150, Days: 20, Today: today, Seed: 5}
	db, driver, dsn, _ := demo.TestMIS(t, dialect, sizes)
	dir := t.TempDir()
	p := &pipe{t: t, dir: dir, cfg: writeConfig(t, dir, driver, dsn, ""), out: filepath.Join(dir, "out", "events.jsonl"), dialect: dialect}
	if r := p.once(); !r.Poll.OK() {
		t.Fatal(r.Poll.Err())
	}
	p.newLines()

	id := pickAppointment(t, db, dialect, today.AddDate(0, 0, 1))
	key := strconv.Itoa(id)
	ahead := time.Date(today.Year(), today.Month(), today.Day()+60, 10, 0, 0, 0, msk)
	must(t, demo.MoveAppointment(ctx, db, dialect, id, ahead))
	must(t, demo.UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"EHOUR": unreadableTime(dialect)}))

	for poll := 1; poll <= 2; poll++ {
		var log syncBuffer
		r := p.onceLogged(&log)
		if !r.Poll.OK() {
			t.Fatal(r.Poll.Err())
		}
		for _, l := range only(t, p.newLines(), "appointment") {
			if l.Key == key {
				t.Fatalf("poll %d: appointment %s (moved out of the window, unreadable) went out: %s", poll, key, l.Op)
			}
		}
		var skipLine string
		for _, ln := range strings.Split(log.String(), "\n") {
			if strings.Contains(ln, "row skipped") && strings.Contains(ln, "key="+key) {
				skipLine = ln
			}
		}
		if !strings.Contains(skipLine, "entity=appointment") || !strings.Contains(skipLine, "end_time") {
			t.Fatalf("poll %d: no \"row skipped\" line naming appointment %s and its column; log:\n%s", poll, key, log.String())
		}
	}

	// Readable again: it goes out once with its new time (and then leaves the window).
	must(t, demo.UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"EHOUR": 0.5}))
	if r := p.once(); !r.Poll.OK() {
		t.Fatal(r.Poll.Err())
	}
	var ops []string
	for _, l := range only(t, p.newLines(), "appointment") {
		if l.Key == key {
			ops = append(ops, l.Op)
		}
	}
	if len(ops) != 1 || ops[0] != "upsert" {
		t.Fatalf("once readable, appointment %s: events %v, want one upsert", key, ops)
	}
}

// TestVersionDriftAlert is issue 9 hole 7: an update the MIS's modified column does
// not see (a status-only update without MODIFYDATE) is missed by the versions path;
// the periodic full read finds it, and raises an alert naming entity, count and key
// that stays in the state store until a full read finds none.
func TestVersionDriftAlert(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testVersionDrift(t, dialect) })
	}
}

func testVersionDrift(t *testing.T, dialect string) {
	ctx := context.Background()
	msk, _ := time.LoadLocation("Europe/Moscow")
	today := time.Now().In(msk)
	sizes := demo.Sizes{Branches: 1, Doctors: 3, Patients: 60, Appointments: 100, Days: 20, Today: today, Seed: 9}
	db, driver, dsn, _ := demo.TestMIS(t, dialect, sizes)
	dir := t.TempDir()
	p := &pipe{t: t, dir: dir, cfg: writeConfig(t, dir, driver, dsn, ""), out: filepath.Join(dir, "out", "events.jsonl"), dialect: dialect}
	if r := p.once(); !r.Poll.OK() {
		t.Fatal(r.Poll.Err())
	}
	id := pickAppointment(t, db, dialect, today.AddDate(0, 0, 2))
	// STATUS 1 (completed) without touching MODIFYDATE: the version does not move.
	if _, err := db.ExecContext(ctx, "UPDATE SCHEDULE SET STATUS = 1 WHERE SCHEDID = "+strconv.Itoa(id)); err != nil {
		t.Fatal(err)
	}
	if e := entity(t, p.once(), "appointment"); e.Mode == "full" || e.Upserts != 0 {
		t.Fatalf("the cheap path (summaries, versions) saw the change it cannot see: %+v", e)
	}
	forceFullRead := func() {
		st, err := store.Open(ctx, p.cfg.Service.StateDir)
		must(t, err)
		defer st.Close()
		must(t, st.SetMeta(ctx, "last_full_read", ""))
	}
	drifts := func() []store.Drift {
		st, err := store.Open(ctx, p.cfg.Service.StateDir)
		must(t, err)
		defer st.Close()
		d, err := st.VersionDrifts(ctx)
		must(t, err)
		return d
	}
	forceFullRead()
	r := p.once()
	es := entity(t, r, "appointment")
	if es.Mode != "full" || es.VersionDrift != 1 || len(es.DriftKeys) != 1 || es.DriftKeys[0] != strconv.Itoa(id) || es.Upserts != 1 {
		t.Fatalf("full read: %+v, want mode full, one drifted record %d, upserted", es, id)
	}
	if d := drifts(); len(d) != 1 || d[0].Entity != "appointment" || d[0].Count != 1 || !strings.Contains(d[0].Advice(), "trigger") {
		t.Fatalf("drift alert in the state store: %+v", d)
	}
	// Versions polls keep the alert; a clean full read clears it.
	p.once()
	if d := drifts(); len(d) != 1 {
		t.Fatalf("a versions poll cleared the alert: %+v", d)
	}
	forceFullRead()
	if es := entity(t, p.once(), "appointment"); es.Mode != "full" || es.VersionDrift != 0 {
		t.Fatalf("second full read: %+v", es)
	}
	if d := drifts(); len(d) != 0 {
		t.Fatalf("a full read without drift left the alert: %+v", d)
	}
}

// entity returns the poll summary of one entity.
func entity(t *testing.T, r *OnceResult, name string) engine.EntitySummary {
	t.Helper()
	for _, e := range r.Poll.Entities {
		if e.Entity == name {
			return e
		}
	}
	t.Fatalf("the poll has no entity %s", name)
	return engine.EntitySummary{}
}
