package engine

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
	"medsync/service/store"
)

// scanCounter is the demo MIS's real Source, with the days each version scan covered
// written down.
type scanCounter struct {
	*mapping.Source
	mu   sync.Mutex
	days []string // one per day a ScanChecksums window covered
	full int      // ScanVersions calls (whole-window scans)
}

func (c *scanCounter) ScanChecksums(ctx context.Context, entity string, w mapping.Window, fn func([]byte, uint64, uint32, bool) error) error {
	c.mu.Lock()
	for d := w.From; d.Before(w.To); d = d.AddDate(0, 0, 1) {
		c.days = append(c.days, d.Format("2006-01-02"))
	}
	c.mu.Unlock()
	return c.Source.ScanChecksums(ctx, entity, w, fn)
}

func (c *scanCounter) ScanVersions(ctx context.Context, entity string, w mapping.Window, fn func([]byte, uint64) error) error {
	c.mu.Lock()
	c.full++
	c.mu.Unlock()
	return c.Source.ScanVersions(ctx, entity, w, fn)
}

func (c *scanCounter) take() (days []string, full int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	days, full = c.days, c.full
	c.days, c.full = nil, 0
	sort.Strings(days)
	return days, full
}

// TestSummaryPathFindsEachChange: on the demo MIS in SQLite, PostgreSQL, MariaDB and
// Firebird, an unchanged poll scans no day (and loads no snapshot), and an update, an
// insert, a delete and a move between days are each found by the summary path: the
// update, the insert and the move through appointment.changed without scanning any
// day, the delete by scanning its day alone, and a change appointment.changed cannot
// see (its MODIFYDATE set before the moment it looks from) by scanning its day.
func TestSummaryPathFindsEachChange(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testSummaryPath(t, dialect) })
	}
}

// summaryRig is the demo MIS of a summary-path test with an engine polling its
// appointments into a recorder, the MIS's and the service's zone Moscow.
type summaryRig struct {
	db    *sql.DB
	zone  *time.Location
	today time.Time
	st    *store.Store
	rec   *recorder
	eng   *Engine
}

// newSummaryRig seeds the demo MIS with appointments over 24 days and wraps its Source
// with wrap (nil: the Source itself). The demo MIS stamps MODIFYDATE with its wall
// clock, set to the MIS's zone for the test.
func newSummaryRig(t *testing.T, dialect string, appointments int, seed int64, wrap func(*mapping.Source) mapping.Reader) *summaryRig {
	t.Helper()
	zone, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		zone = msk
	}
	old := demo.Now
	t.Cleanup(func() { demo.Now = old })
	demo.Now = func() time.Time { return time.Now().In(zone) }
	now := time.Now().In(zone)
	r := &summaryRig{zone: zone, today: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, zone), rec: &recorder{}}
	r.db, _, _, _ = demo.TestMIS(t, dialect, demo.Sizes{Branches: 1, Doctors: 4, Patients: 100, Appointments: appointments, Days: 24, Today: now, Seed: seed})
	prof, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	src := mapping.NewSource(r.db, dialect, prof, mapping.SourceOptions{Zone: zone})
	var reader mapping.Reader = src
	if wrap != nil {
		reader = wrap(src)
	}
	if r.st, err = store.Open(context.Background(), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	r.eng, err = New(Options{
		Reader: reader, Store: r.st, Zone: zone, DaysBack: 10, DaysAhead: 10,
		Targets: []*Target{{Name: "rec", Conn: r.rec, Entities: []string{mapping.EntityAppointment}, BatchSize: 100}},
		Guard:   Guard{MaxShare: 0.5, MinCount: 3},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pollOK runs one poll, which must succeed, with the recorder reset before it, and
// delivers what it queued; it returns the appointments' summary of it.
func (r *summaryRig) pollOK(t *testing.T) EntitySummary {
	t.Helper()
	ctx := context.Background()
	r.rec.reset()
	s := r.eng.Poll(ctx)
	if !s.OK() {
		t.Fatalf("poll failed: %v", s.Err())
	}
	if _, err := r.eng.DeliverAll(ctx); err != nil {
		t.Fatal(err)
	}
	return s.Entities[0]
}

// queryIDs runs a query of one integer column on the demo MIS.
func queryIDs(t *testing.T, db *sql.DB, q string) []int {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	must(t, err)
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		must(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	must(t, rows.Err())
	return ids
}

func testSummaryPath(t *testing.T, dialect string) {
	ctx := context.Background()
	var src *scanCounter
	r := newSummaryRig(t, dialect, 500, 3, func(s *mapping.Source) mapping.Reader {
		src = &scanCounter{Source: s}
		return src
	})
	db, zone, today, st, rec, eng := r.db, r.zone, r.today, r.st, r.rec, r.eng
	var err error
	poll := func() (EntitySummary, []connectors.Event) {
		t.Helper()
		rec.reset()
		s := eng.Poll(ctx)
		if !s.OK() {
			t.Fatalf("poll failed: %v", s.Err())
		}
		if _, err := eng.DeliverAll(ctx); err != nil {
			t.Fatal(err)
		}
		return s.Entities[0], rec.events()
	}
	day := func(n int) string { return today.AddDate(0, 0, n).Format("2006-01-02") }
	// partial: only the changed rows' snapshot records are loaded, and those of the
	// days they leave unexplained (which are scanned).
	expect := func(what string, es EntitySummary, evs []connectors.Event, op, key string, partial bool, days ...string) {
		t.Helper()
		scanned, full := src.take()
		if es.Mode != "summary" || full != 0 {
			t.Errorf("%s: mode %q with %d whole-window version scans, want the summary path", what, es.Mode, full)
		}
		if es.PartialSnapshot != partial {
			t.Errorf("%s: partial snapshot %v, want %v", what, es.PartialSnapshot, partial)
		}
		if len(evs) != 1 || evs[0].Op != op || evs[0].Key != key {
			t.Errorf("%s: events %v, want one %s of %s", what, describe(evs), op, key)
		}
		sort.Strings(days)
		if fmt.Sprint(scanned) != fmt.Sprint(days) {
			t.Errorf("%s: scanned days %v, want %v", what, scanned, days)
		}
	}

	if es, _ := poll(); es.Mode != "full" || es.Read == 0 {
		t.Fatalf("first poll: %+v", es)
	}
	src.take()
	es, evs := poll()
	if scanned, full := src.take(); es.Mode != "summary" || len(evs) != 0 || len(scanned) != 0 || full != 0 {
		t.Fatalf("unchanged poll: mode %s, %d events, scanned %v and %d whole window(s)", es.Mode, len(evs), scanned, full)
	}
	// The first poll stored the snapshot's day summaries with it, so an unchanged poll
	// does not load the snapshot: with its pages damaged it still succeeds, and the
	// first poll that must load it (a day moved) fails on them rather than guessing.
	for i := 0; i < 2; i++ {
		es, evs = poll()
		if !es.SummaryOnly || len(evs) != 0 || es.Read == 0 {
			t.Fatalf("unchanged poll %d: %+v, %d events; want it decided by the stored day summaries", i+2, es, len(evs))
		}
	}
	pages := damageSnapshot(t, st, mapping.EntityAppointment)
	if es, _ = poll(); !es.SummaryOnly {
		t.Fatalf("unchanged poll with the snapshot pages damaged: %+v", es)
	}
	id, _ := bookedFrom(t, db, today, 2)
	must(t, demo.UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"COMMENT": "Перезвонить накануне"}))
	if s := eng.Poll(ctx); s.OK() || s.Entities[0].SummaryOnly {
		t.Fatalf("a moved day with the snapshot damaged: %+v, want the poll to load the snapshot and fail", s.Entities[0])
	}
	pages.restore()
	src.take()

	must(t, demo.UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"COMMENT": "Перезвонить накануне, после обеда"}))
	es, evs = poll()
	expect("update", es, evs, connectors.OpUpsert, fmt.Sprint(id), true)

	var doctor int
	must(t, db.QueryRowContext(ctx, `SELECT MIN(DOCT_ID) FROM DOCTORS WHERE ENABLED = 1`).Scan(&doctor))
	added, err := demo.AddAppointment(ctx, db, dialect, demo.NewAppointment{DoctorID: doctor, Start: today.AddDate(0, 0, 3).Add(12*time.Hour + 10*time.Minute)})
	must(t, err)
	es, evs = poll()
	expect("insert", es, evs, connectors.OpUpsert, fmt.Sprint(added), true)

	gone, goneDay := bookedFrom(t, db, today, 4, id, added)
	must(t, demo.DeleteAppointment(ctx, db, dialect, gone))
	es, evs = poll()
	expect("delete", es, evs, connectors.OpDelete, fmt.Sprint(gone), true, day(goneDay))

	must(t, demo.MoveAppointment(ctx, db, dialect, id, today.AddDate(0, 0, 6).Add(11*time.Hour)))
	es, evs = poll()
	expect("move between days", es, evs, connectors.OpUpsert, fmt.Sprint(id), true)

	// A change stamped two hours back (a transaction that committed late, a MIS clock
	// behind ours): appointment.changed does not return it, its day does not add up,
	// and the day is scanned.
	late, lateDay := 0, 0
	for _, n := range []int{1, 7, 8, 9, 5} {
		var id sql.NullInt64
		q := fmt.Sprintf("SELECT MIN(SCHEDID) FROM SCHEDULE WHERE DELETED = 0 AND WDATE = %d", int(convert.ToOLE(convert.FromTime(today.AddDate(0, 0, n)))))
		must(t, db.QueryRowContext(ctx, q).Scan(&id))
		if id.Valid {
			late, lateDay = int(id.Int64), n
			break
		}
	}
	if late == 0 {
		t.Fatal("no appointment in the demo MIS on the days tried")
	}
	_, err = db.ExecContext(ctx, fmt.Sprintf("UPDATE SCHEDULE SET COMMENT = 'Позвонить после 18:00', MODIFYDATE = %v WHERE SCHEDID = %d",
		convert.ToOLEDateTime(time.Now().In(zone).Add(-2*time.Hour)), late))
	must(t, err)
	es, evs = poll()
	expect("a change older than the changed rows' start", es, evs, connectors.OpUpsert, fmt.Sprint(late), true, day(lateDay))

	es, evs = poll()
	if scanned, _ := src.take(); len(evs) != 0 || len(scanned) != 0 || es.Mode != "summary" || !es.SummaryOnly {
		t.Fatalf("poll after the changes: %d events, scanned %v, %+v", len(evs), scanned, es)
	}
}

// bookedFrom returns an appointment (not one of not) on the first day from today+from
// on that has one, and that day's offset: the demo doctors do not all work every day
// (a run just after midnight may land on a Sunday).
func bookedFrom(t *testing.T, db *sql.DB, today time.Time, from int, not ...int) (int, int) {
	t.Helper()
	skip := "0"
	for _, n := range not {
		skip += fmt.Sprintf(",%d", n)
	}
	for n := from; n < from+7; n++ {
		var id sql.NullInt64
		q := fmt.Sprintf("SELECT MIN(SCHEDID) FROM SCHEDULE WHERE DELETED = 0 AND WDATE = %d AND SCHEDID NOT IN (%s)",
			int(convert.ToOLE(convert.FromTime(today.AddDate(0, 0, n)))), skip)
		if err := db.QueryRowContext(context.Background(), q).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if id.Valid {
			return int(id.Int64), n
		}
	}
	t.Fatalf("no appointment in the demo MIS in the week from %s", today.AddDate(0, 0, from).Format("2006-01-02"))
	return 0, 0
}

func describe(evs []connectors.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Op+" "+e.Key)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// damagedPages are an entity's snapshot pages as they were before damageSnapshot.
type damagedPages struct {
	t      *testing.T
	db     *sql.DB
	entity string
	pages  map[int64][]byte
}

// damageSnapshot overwrites the entity's snapshot pages in the state store with bytes
// no load can decode, through a connection of its own.
func damageSnapshot(t *testing.T, st *store.Store, entity string) *damagedPages {
	t.Helper()
	db, err := sql.Open("sqlite", st.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := &damagedPages{t: t, db: db, entity: entity, pages: map[int64][]byte{}}
	rows, err := db.Query(`SELECT page, data FROM snapshot_pages WHERE entity = ?`, entity)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var page int64
		var data []byte
		must(t, rows.Scan(&page, &data))
		d.pages[page] = data
	}
	must(t, rows.Err())
	rows.Close()
	if len(d.pages) == 0 {
		t.Fatalf("no %s snapshot pages in %s", entity, st.Path())
	}
	_, err = db.Exec(`UPDATE snapshot_pages SET data = x'ff' WHERE entity = ?`, entity)
	must(t, err)
	return d
}

func (d *damagedPages) restore() {
	d.t.Helper()
	for page, data := range d.pages {
		_, err := d.db.Exec(`UPDATE snapshot_pages SET data = ? WHERE entity = ? AND page = ?`, data, d.entity, page)
		must(d.t, err)
	}
}

// TestSummarizeSnapshotDays: the stored summary puts each record on the date of its
// instant in the service zone — across daylight-saving changes too — and reads back
// as written.
func TestSummarizeSnapshotDays(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"Europe/Moscow", "America/New_York", "Australia/Lord_Howe"} {
		zone, err := time.LoadLocation(name)
		if err != nil {
			t.Skipf("no zone %s: %v", name, err)
		}
		st, err := store.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c := &store.Change{Entity: mapping.EntityAppointment}
		want := map[convert.Date]daySum{}
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, zone).Unix()
		for i := 0; i < 5000; i++ {
			at := base + int64(i)*int64(i%97+1)*1307 // spread over two years, odd minutes
			en := store.Entry{FP: uint64(i), At: at, Sum: uint32(i * 7919), HasSum: i%500 != 0}
			if !en.HasSum {
				en.Sum = 0 // what the store keeps of a record read without a checksum
			}
			c.Puts = append(c.Puts, store.Put{Key: fmt.Sprint(i), Entry: en})
			y, m, d := time.Unix(at, 0).In(zone).Date()
			s := want[convert.Date{Year: y, Month: m, Day: d}]
			s.rows++
			s.sum += int64(en.Sum)
			s.unknown = s.unknown || !en.HasSum
			want[convert.Date{Year: y, Month: m, Day: d}] = s
		}
		must(t, st.Commit(ctx, nil, c))
		snap, err := st.LoadSnapshot(ctx, mapping.EntityAppointment)
		must(t, err)
		e := &Engine{o: Options{Zone: zone}}
		got, ok := decodeDays(e.summarizeSnapshot(snap), zone.String())
		if !ok || len(got) != len(want) {
			t.Fatalf("%s: decoded %v, %d days, want %d", name, ok, len(got), len(want))
		}
		for d, s := range want {
			if got[d] != s {
				t.Errorf("%s %s: %+v, want %+v", name, d, got[d], s)
			}
		}
		if _, ok := decodeDays(e.summarizeSnapshot(snap), "Europe/Berlin"); ok {
			t.Errorf("%s: a summary written for another zone was accepted", name)
		}
		st.Close()
	}
}

// deletingReader deletes some rows from the demo MIS just before the first read by
// keys: rows appointment.changed listed that are gone when their full rows are read.
type deletingReader struct {
	*mapping.Source
	db      *sql.DB
	dialect string
	ids     []int
}

func (d *deletingReader) ReadKeys(ctx context.Context, entity string, keys []string, fn func(mapping.Item) error, skip func(mapping.Skip)) error {
	for _, id := range d.ids {
		if err := demo.DeleteAppointment(ctx, d.db, d.dialect, id); err != nil {
			return err
		}
	}
	d.ids = nil
	return d.Source.ReadKeys(ctx, entity, keys, fn, skip)
}

// TestPartialPollRowsGoneBeforeRead: over a partial snapshot, changed rows deleted
// before their full rows are read are deletions (looked up, and weighed by the guard
// against every record the snapshot holds, not against the few loaded), the others
// upserts, and the stored day summary still describes the whole snapshot.
func TestPartialPollRowsGoneBeforeRead(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			var dr *deletingReader
			r := newSummaryRig(t, dialect, 400, 5, func(s *mapping.Source) mapping.Reader {
				dr = &deletingReader{Source: s, dialect: dialect}
				return dr
			})
			dr.db = r.db
			r.pollOK(t)
			var ids []int // seven booked appointments spread over the window
			from, to := convert.ToOLE(convert.FromTime(r.today.AddDate(0, 0, -9))), convert.ToOLE(convert.FromTime(r.today.AddDate(0, 0, 9)))
			for i, id := range queryIDs(t, r.db, fmt.Sprintf("SELECT SCHEDID FROM SCHEDULE WHERE DELETED = 0 AND WDATE >= %v AND WDATE < %v ORDER BY WDATE, SCHEDID", from, to)) {
				if i%29 == 0 && len(ids) < 7 {
					ids = append(ids, id)
				}
			}
			if len(ids) < 7 {
				t.Fatalf("only %d appointments picked in the window", len(ids))
			}
			for _, id := range ids {
				must(t, demo.UpdateRow(ctx, r.db, dialect, "SCHEDULE", id, map[string]any{"COMMENT": "Уточнить направление"}))
			}
			dr.ids = ids[:4] // more than the guard's MinCount, far less than half of all
			es := r.pollOK(t)
			if !es.PartialSnapshot || es.Held != 0 || es.Deletes != 4 || es.Upserts != 3 {
				t.Fatalf("poll: %+v; want a partial snapshot, 4 deletions out and 3 upserts, none held", es)
			}
			got := map[string]string{}
			for _, ev := range r.rec.events() {
				got[ev.Key] = ev.Op
			}
			for i, id := range ids {
				want := connectors.OpUpsert
				if i < 4 {
					want = connectors.OpDelete
				}
				if got[fmt.Sprint(id)] != want {
					t.Errorf("appointment %d: event %q, want %s (events %v)", id, got[fmt.Sprint(id)], want, describe(r.rec.events()))
				}
			}
			if len(got) != len(ids) {
				t.Errorf("events %v, want one for each of %v", describe(r.rec.events()), ids)
			}
			checkStoredSummary(t, r.eng, 1)
			if s := r.eng.Poll(ctx); !s.OK() || !s.Entities[0].SummaryOnly {
				t.Fatalf("poll after: %+v (%v), want it decided by the day summaries", s.Entities[0], s.Err())
			}
		})
	}
}

// TestPartialSummaryOfScannedDay: over a partial snapshot, a day scanned by keys gets
// the figures of its records as they are now — a day whose record lacked a checksum
// (so its stored summary was unknown) is known again once the scan learned it — and an
// explained day keeps the stored figures with the changed records' replaced.
func TestPartialSummaryOfScannedDay(t *testing.T) {
	ctx := context.Background()
	zone := msk
	st, err := store.Open(ctx, t.TempDir())
	must(t, err)
	defer st.Close()
	e := &Engine{o: Options{Zone: zone, Store: st}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	day0 := time.Date(2026, 12, 1, 0, 0, 0, 0, zone)
	w := mapping.Window{From: day0, To: day0.AddDate(0, 0, 2)}
	c := &store.Change{Entity: mapping.EntityAppointment}
	for i := 0; i < 6; i++ {
		en := store.Entry{FP: uint64(i), Ver: 1, At: day0.Add(time.Duration(i%2)*24*time.Hour + 10*time.Hour).Unix(), Sum: uint32(10 + i), HasSum: i != 0}
		if !en.HasSum {
			en.Sum = 0
		}
		c.Puts = append(c.Puts, store.Put{Key: fmt.Sprint(i), Entry: en})
	}
	must(t, st.Commit(ctx, nil, c))
	whole, err := st.LoadSnapshot(ctx, mapping.EntityAppointment)
	must(t, err)
	stored, ok := decodeDays(e.summarizeSnapshot(whole), zone.String())
	if d0 := stored[convert.FromTime(day0)]; !ok || !d0.unknown || d0.rows != 3 {
		t.Fatalf("stored summary of day 0: %+v (%v), want 3 rows, one without a checksum", d0, ok)
	}
	// Day 0 (keys 0, 2, 4) was scanned; key 1 of day 1 changed (explained).
	days := daysOf(w, zone)
	snap, ok, err := st.LoadPartial(ctx, mapping.EntityAppointment, store.PartialFilter{Keys: []string{"1"}, Spans: [][2]int64{{days.start[0], days.start[1]}}})
	if err != nil || !ok || snap.Len() != 4 {
		t.Fatalf("partial load: %d records, %v %v; want 4", snap.Len(), ok, err)
	}
	p := &entityPoll{e: e, entity: mapping.EntityAppointment, snap: snap, mis: &misDays{w: w, days: days},
		partial: &partialBase{stored: stored, loaded: e.snapshotDaySums(snap), moved: []bool{true, false}}}
	scanned := store.Entry{FP: 100, Ver: 2, At: day0.Add(9 * time.Hour).Unix(), Sum: 77, HasSum: true}
	changed := store.Entry{FP: 101, Ver: 2, At: day0.Add(24*time.Hour + 11*time.Hour).Unix(), Sum: 99, HasSum: true}
	must(t, st.Commit(ctx, snap, &store.Change{Entity: mapping.EntityAppointment, Summarize: p.summarize,
		Puts: []store.Put{{Key: "0", Entry: scanned}, {Key: "1", Entry: changed}}}))
	blob, err := st.LoadSummary(ctx, mapping.EntityAppointment)
	must(t, err)
	after, err := st.LoadSnapshot(ctx, mapping.EntityAppointment)
	must(t, err)
	if want := e.summarizeSnapshot(after); !bytes.Equal(blob, want) {
		got, _ := decodeDays(blob, zone.String())
		whole, _ := decodeDays(want, zone.String())
		t.Fatalf("stored %v, the whole snapshot's %v", got, whole)
	}
}

// TestPartialPollFallsBackWhenMuchChanged: with a few records changed the poll loads
// only theirs; with more than a twentieth of them changed (the rows of the round
// before count again: appointment.changed looks 30 minutes back) it loads the whole
// snapshot, as cheap by then, and still finds every change.
func TestPartialPollFallsBackWhenMuchChanged(t *testing.T) {
	ctx := context.Background()
	old := partialFloor
	partialFloor = 0 // the demo MIS's few hundred records stand for a big table
	t.Cleanup(func() { partialFloor = old })
	r := newSummaryRig(t, demo.SQLite, 1500, 9, nil)
	r.pollOK(t)
	w := r.eng.Window(time.Now())
	from, to := convert.ToOLE(convert.FromTime(w.From.In(r.zone))), convert.ToOLE(convert.FromTime(w.To.In(r.zone)))
	ids := queryIDs(t, r.db, fmt.Sprintf("SELECT SCHEDID FROM SCHEDULE WHERE WDATE >= %v AND WDATE < %v ORDER BY SCHEDID", from, to))
	for _, tc := range []struct {
		every   int
		partial bool
	}{{40, true}, {7, false}} {
		changed := 0
		for i, id := range ids {
			if i%tc.every == 0 {
				must(t, demo.UpdateRow(ctx, r.db, demo.SQLite, "SCHEDULE", id, map[string]any{"COMMENT": fmt.Sprintf("каждая %d-я", tc.every)}))
				changed++
			}
		}
		es := r.pollOK(t)
		if es.PartialSnapshot != tc.partial || es.Upserts != changed || len(r.rec.events()) != changed {
			t.Errorf("%d of %d changed: partial %v (want %v), %d upserts, %d events", changed, len(ids), es.PartialSnapshot, tc.partial, es.Upserts, len(r.rec.events()))
		}
		checkStoredSummary(t, r.eng, tc.every)
	}
}

// TestTableSummaryPatients: patients have no window, and the demo profile sums up
// their whole table in one row. An unchanged poll reads that row alone and loads no
// snapshot; an update and a deletion each move it, and the poll then finds the change
// through the versions as before. SQLite, PostgreSQL, MariaDB and Firebird.
func TestTableSummaryPatients(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			zone, err := time.LoadLocation("Europe/Moscow")
			if err != nil {
				zone = msk
			}
			old := demo.Now
			t.Cleanup(func() { demo.Now = old })
			demo.Now = func() time.Time { return time.Now().In(zone) }
			db, _, _, _ := demo.TestMIS(t, dialect, demo.Sizes{Branches: 1, Doctors: 2, Patients: 60, Appointments: 40, Days: 6, Today: time.Now().In(zone), Seed: 4})
			prof, err := mapping.LoadProfile("demo")
			must(t, err)
			src := &scanCounter{Source: mapping.NewSource(db, dialect, prof, mapping.SourceOptions{Zone: zone})}
			st, err := store.Open(ctx, t.TempDir())
			must(t, err)
			t.Cleanup(func() { st.Close() })
			rec := &recorder{}
			eng, err := New(Options{
				Reader: src, Store: st, Zone: zone, DaysBack: 10, DaysAhead: 10,
				Targets: []*Target{{Name: "rec", Conn: rec, Entities: []string{mapping.EntityPatient}, BatchSize: 100}},
				Guard:   Guard{MaxShare: 0.5, MinCount: 3},
				Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			must(t, err)
			poll := func(what string) (EntitySummary, []connectors.Event) {
				t.Helper()
				rec.reset()
				s := eng.Poll(ctx)
				if !s.OK() {
					t.Fatalf("%s: poll failed: %v", what, s.Err())
				}
				if _, err := eng.DeliverAll(ctx); err != nil {
					t.Fatal(err)
				}
				src.take()
				return s.Entities[0], rec.events()
			}
			if es, evs := poll("first poll"); es.Mode != "full" || len(evs) == 0 {
				t.Fatalf("first poll: %+v, %d events", es, len(evs))
			}
			for i := 0; i < 2; i++ {
				if es, evs := poll("unchanged"); !es.SummaryOnly || len(evs) != 0 || es.Read == 0 {
					t.Fatalf("unchanged poll %d: %+v, %d events; want it decided by the table summary", i, es, len(evs))
				}
			}
			ids := queryIDs(t, db, `SELECT PCODE FROM CLIENTS WHERE PCODE NOT IN (SELECT PCODE FROM SCHEDULE WHERE PCODE IS NOT NULL) ORDER BY PCODE`)
			if len(ids) < 2 {
				t.Fatalf("only %d patients without appointments", len(ids))
			}
			must(t, demo.UpdateRow(ctx, db, dialect, "CLIENTS", ids[0], map[string]any{"PHONE1": "+79161234567"}))
			if es, evs := poll("update"); es.SummaryOnly || len(evs) != 1 || evs[0].Key != fmt.Sprint(ids[0]) || evs[0].Op != connectors.OpUpsert {
				t.Fatalf("after an update: %+v, events %v; want one upsert of %d", es, describe(evs), ids[0])
			}
			_, err = db.ExecContext(ctx, fmt.Sprintf("DELETE FROM CLIENTS WHERE PCODE = %d", ids[1]))
			must(t, err)
			if es, evs := poll("delete"); es.SummaryOnly || len(evs) != 1 || evs[0].Key != fmt.Sprint(ids[1]) || evs[0].Op != connectors.OpDelete {
				t.Fatalf("after a deletion: %+v, events %v; want one delete of %d", es, describe(evs), ids[1])
			}
			if es, evs := poll("unchanged after"); !es.SummaryOnly || len(evs) != 0 {
				t.Fatalf("poll after the changes: %+v, %d events", es, len(evs))
			}
		})
	}
}
