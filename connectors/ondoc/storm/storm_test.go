package storm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "medsync/connectors/ondoc"
	"medsync/mapping/demo"
	"medsync/service/app/apptest"
)

const childEnv = "MEDSYNC_ONDOC_STORM_CHILD"

// TestMedsyncChild is not a test of its own: TestKillStorm runs the test binary again
// with MEDSYNC_ONDOC_STORM_CHILD set to a config, and this process polls and delivers
// until it is killed.
func TestMedsyncChild(t *testing.T) { apptest.ChildLoop(t, childEnv) }

const (
	daysBack  = 7
	daysAhead = 10
)

func moscow(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// stormSeed is MEDSYNC_STORM_SEED when set (to replay a failure), else a new one.
func stormSeed(t *testing.T) uint64 {
	if s := os.Getenv("MEDSYNC_STORM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MEDSYNC_STORM_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

func writeConfig(t testing.TB, dir, driver, dsn, server string) string {
	t.Helper()
	if driver == "pgx" {
		driver = "postgres"
	}
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
max_delete_share = 0.9
min_delete_count = 100000

[dispatch]
backoff_initial = 100ms
backoff_max = 400ms

[connector.ondoc]
server = %s
token_company = %s
token_branch = %s
timeout = 1s
rate_limit = 0
batch_size = 7
`, driver, dsn, daysBack, daysAhead, server, companyKey, branchKey)
	p := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKillStorm: see the package comment. MEDSYNC_STORM_SEED replays a run's random
// choices (kill points, faults, MIS changes); the timing of the processes is not
// replayable, so a failure may need a few runs of the same seed.
func TestKillStorm(t *testing.T) {
	// On SQLite the child commits its reads in chunks of 5 records, so that most
	// polls' events are queued as outbox batch rows (service/store/batch.go) and the
	// kills and faults fall on them too; on PostgreSQL with the default chunks, so
	// that they fall on single rows.
	for _, tc := range []struct {
		dialect string
		kills   int
		chunk   string
	}{{demo.SQLite, 40, "5"}, {demo.Postgres, 25, ""}} {
		t.Run(tc.dialect, func(t *testing.T) {
			t.Setenv(apptest.ChunkEnv, tc.chunk)
			killStorm(t, tc.dialect, tc.kills)
		})
	}
}

type storm struct {
	t       *testing.T
	rng     *rand.Rand
	db      *sql.DB
	dialect string
	loc     *time.Location
	recv    *receiver
	// deleted are appointments hard-deleted by the test (for the report).
	deleted map[string]bool
	// hot are appointments most changes go to, so that one record goes through many
	// states (cancelled → restored → cancelled, moved back and forth) during the storm.
	hot   []string
	kills []time.Time // when each kill happened
	// shiftEnd is each changed shift's seeded end (a day fraction).
	shiftEnd map[int]float64
	stats    map[string]int
}

func killStorm(t *testing.T, dialect string, kills int) {
	seed := stormSeed(t)
	t.Logf("seed %d (replay: MEDSYNC_STORM_SEED=%d go test -run 'TestKillStorm/%s' ./connectors/ondoc/storm/)", seed, seed, dialect)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: replay with MEDSYNC_STORM_SEED=%d", seed, seed)
		}
	})
	loc := moscow(t)
	sizes := demo.Sizes{Branches: 1, Doctors: 4, Patients: 60, Appointments: 160, Days: 14, Today: time.Now().In(loc), Seed: int64(seed % 1000)}
	db, driver, dsn, _ := demo.TestMIS(t, dialect, sizes)
	s := &storm{t: t, rng: rand.New(rand.NewPCG(seed, 7)), db: db, dialect: dialect, loc: loc,
		recv: newReceiver(t, seed), deleted: map[string]bool{}, stats: map[string]int{}}
	cfg := writeConfig(t, t.TempDir(), driver, dsn, s.recv.srv.URL)

	// ONDOC has linked about half of the patients before medsync first runs.
	for _, p := range s.ids(`SELECT PCODE FROM CLIENTS`) {
		if s.rng.IntN(2) == 0 {
			s.recv.link(p)
		}
	}
	s.hot = s.ids(`SELECT SCHEDID FROM SCHEDULE ORDER BY SCHEDID DESC`)[:20]
	s.recv.setFaults(faults{late: 60, err500: 40, err429: 15, lateBy: 1300 * time.Millisecond})
	for k := range kills {
		s.round(k, cfg)
	}
	s.recv.setFaults(faults{})
	startDay := time.Now().In(loc).YearDay()
	apptest.Drain(t, cfg, 300)
	apptest.Drain(t, cfg, 300) // held visits of patients linked last go out in the connector's Run
	if time.Now().In(loc).YearDay() != startDay {
		apptest.Drain(t, cfg, 300) // midnight passed: the window moved; poll once more in the new one
	}
	t.Logf("kills and MIS changes: %s; receiver: %s", s.statsLine(s.stats), s.statsLine(s.recv.stats))
	s.recv.mu.Lock()
	defer s.recv.mu.Unlock()
	if len(s.recv.problems) > 0 {
		t.Errorf("the receiver refused %d requests as against the contract; first: %s", len(s.recv.problems), strings.Join(first(s.recv.problems, 10), "\n"))
	}
	s.compare(ctx(t), driver, dsn)
	s.compareBookings()
}

func ctx(t *testing.T) context.Context { return t.Context() }

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func (s *storm) statsLine(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return b.String()
}

// round starts medsync, changes the MIS while it runs, and kills it: during a
// delivery (a request is being answered), or at a random moment (reading the MIS,
// committing, idle).
func (s *storm) round(k int, cfg string) {
	child := apptest.Start(s.t, "TestMedsyncChild", childEnv, cfg)
	time.Sleep(time.Duration(s.rng.IntN(300)) * time.Millisecond)
	s.mutate(1 + s.rng.IntN(4))
	if s.rng.IntN(2) == 0 {
		for deadline := time.Now().Add(5 * time.Second); !s.recv.delivering() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(s.rng.IntN(15)) * time.Millisecond)
	} else {
		time.Sleep(time.Duration(50+s.rng.IntN(900)) * time.Millisecond)
	}
	busy := s.recv.delivering()
	child.Kill(s.t)
	s.kills = append(s.kills, time.Now())
	if busy {
		s.stats["during delivery"]++
	} else {
		s.stats["elsewhere"]++
	}
	s.mutate(s.rng.IntN(3))
}

func (s *storm) ids(q string) []string {
	s.t.Helper()
	rows, err := s.db.QueryContext(ctx(s.t), q)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, strconv.FormatInt(id, 10))
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *storm) pick(ids []string) int {
	n, _ := strconv.Atoi(ids[s.rng.IntN(len(ids))])
	return n
}

// futureStart is a wall time in the clinic 1..daysAhead-2 days ahead, in working hours.
func (s *storm) futureStart() time.Time {
	d := time.Now().In(s.loc).AddDate(0, 0, 1+s.rng.IntN(daysAhead-2))
	return time.Date(d.Year(), d.Month(), d.Day(), 9+s.rng.IntN(9), 30*s.rng.IntN(2), 0, 0, s.loc)
}

// mutate makes n changes to the MIS: inserts, updates, soft cancellations and
// restores, hard deletes (preferring visits whose acknowledgement was lost), moves
// between days, patients linking in ONDOC and patient cards deleted in the MIS.
func (s *storm) mutate(n int) {
	c := ctx(s.t)
	for range n {
		appts := s.ids(`SELECT SCHEDID FROM SCHEDULE`)
		if s.rng.IntN(10) < 6 {
			appts = s.hot
		}
		var err error
		op := ""
		switch x := s.rng.IntN(100); {
		case x < 15:
			op = "insert"
			patients := s.ids(`SELECT PCODE FROM CLIENTS`)
			_, err = demo.AddAppointment(c, s.db, s.dialect, demo.NewAppointment{
				PatientID: s.pick(patients), DoctorID: s.pick(s.ids(`SELECT DOCT_ID FROM DOCTORS`)), Start: s.futureStart(), Source: 1})
		case x < 27:
			op = "update"
			err = demo.UpdateRow(c, s.db, s.dialect, "SCHEDULE", s.pick(appts), map[string]any{"COMMENT": fmt.Sprintf("storm %d", s.rng.IntN(5))})
		case x < 35:
			op = "status"
			err = demo.SetAppointmentStatus(c, s.db, s.dialect, s.pick(appts), s.rng.IntN(3))
		case x < 52:
			op = "cancel"
			err = demo.CancelAppointment(c, s.db, s.dialect, s.pick(appts), 1)
		case x < 64:
			op = "restore"
			err = demo.RestoreAppointment(c, s.db, s.dialect, s.pick(appts))
		case x < 78:
			op = "delete"
			id := s.pick(appts)
			if late := s.lateVisit(appts); late != 0 && s.rng.IntN(2) == 0 {
				id, op = late, "delete after a lost ack"
			}
			err = demo.DeleteAppointment(c, s.db, s.dialect, id)
			s.deleted[strconv.Itoa(id)] = true
		case x < 84:
			op = "move"
			err = demo.MoveAppointment(c, s.db, s.dialect, s.pick(appts), s.futureStart())
		case x < 92:
			op = "booking in ONDOC"
			if !s.recv.book() {
				op = "booking in ONDOC (no free slot)"
			}
		case x < 95:
			op = "link" // a code is issued only for a live card
			s.recv.link(strconv.Itoa(s.pick(s.ids(`SELECT PCODE FROM CLIENTS WHERE DELETED = 0`))))
		case x < 96:
			// A patient card deleted in the MIS: medsync unlinks the patient
			// (card_deleted) and holds their later visits.
			op = "card deleted"
			err = demo.UpdateRow(c, s.db, s.dialect, "CLIENTS", s.pick(s.ids(`SELECT PCODE FROM CLIENTS WHERE DELETED = 0`)), map[string]any{"DELETED": 1})
		case x < 98:
			op = "doctor online booking on/off"
			err = demo.UpdateRow(c, s.db, s.dialect, "DOCTORS", s.pick(s.ids(`SELECT DOCT_ID FROM DOCTORS`)), map[string]any{"HIDEINTALONS": s.rng.IntN(2)})
		default:
			op = "shift end moved"
			err = s.moveShiftEnd()
		}
		if err != nil && !errors.Is(err, demo.ErrNotFound) {
			s.t.Fatalf("MIS change %s: %v", op, err)
		}
		s.stats["mis "+op]++
	}
}

// lateVisit is an appointment still in the MIS whose visit ONDOC applied but answered
// too late, or 0.
func (s *storm) lateVisit(appts []string) int {
	s.recv.mu.Lock()
	defer s.recv.mu.Unlock()
	var late []string
	for _, id := range appts {
		if s.recv.lateVisits[id] {
			late = append(late, id)
		}
	}
	if len(late) == 0 {
		return 0
	}
	return s.pick(late)
}

// moveShiftEnd ends one of the last week's shifts (the days ahead) 0–2 hours earlier
// than it was seeded: slots vanish and come back.
func (s *storm) moveShiftEnd() error {
	c := ctx(s.t)
	shifts := s.ids(`SELECT SHIFT_ID FROM DOCTSHIFT WHERE WDATE > (SELECT MAX(WDATE) FROM DOCTSHIFT) - 6 ORDER BY SHIFT_ID`)
	if len(shifts) == 0 {
		return nil
	}
	id := s.pick(shifts)
	if s.shiftEnd == nil {
		s.shiftEnd = map[int]float64{}
	}
	end, ok := s.shiftEnd[id]
	if !ok {
		if err := s.db.QueryRowContext(c, `SELECT ENDHOUR FROM DOCTSHIFT WHERE SHIFT_ID = `+strconv.Itoa(id)).Scan(&end); err != nil {
			return err
		}
		s.shiftEnd[id] = end
	}
	return demo.UpdateRow(c, s.db, s.dialect, "DOCTSHIFT", id, map[string]any{"ENDHOUR": end - float64(s.rng.IntN(3))/24})
}
