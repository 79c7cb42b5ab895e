package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

// TestSummaryPathRandomChanges drives the summary path through rounds of random
// registrar work on the demo MIS — updates, inserts, deletions, moves between days,
// changes stamped before the moment appointment.changed looks from, rounds with no
// change at all — and after every poll compares what the connector was given with a
// full read of the MIS: the same records with the same content, none missing, none
// extra. SQLite, PostgreSQL, MariaDB and Firebird.
func TestSummaryPathRandomChanges(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testSummaryRandom(t, dialect) })
	}
}

func testSummaryRandom(t *testing.T, dialect string) {
	ctx := context.Background()
	r := newSummaryRig(t, dialect, 600, 11, nil)
	db, zone, today, rec, eng := r.db, r.zone, r.today, r.rec, r.eng
	src := eng.o.Reader
	w := eng.Window(time.Now())
	doctors := queryIDs(t, db, `SELECT DOCT_ID FROM DOCTORS WHERE ENABLED = 1 ORDER BY DOCT_ID`)

	given := map[string]string{} // key → fingerprint of what the connector holds
	rnd := rand.New(rand.NewPCG(7, uint64(len(dialect))))
	inWindow := func() []int {
		t.Helper()
		from, to := convert.ToOLE(convert.FromTime(w.From.In(zone))), convert.ToOLE(convert.FromTime(w.To.In(zone)))
		return queryIDs(t, db, fmt.Sprintf("SELECT SCHEDID FROM SCHEDULE WHERE WDATE >= %v AND WDATE < %v ORDER BY SCHEDID", from, to))
	}
	day := func() time.Time { return today.AddDate(0, 0, rnd.IntN(19)-9) }
	summaryOnly, partial := 0, 0
	for round := 0; round < 24; round++ {
		var did []string
		if round > 0 && round%5 != 0 { // every fifth round changes nothing
			ids := inWindow()
			rnd.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			for _, id := range ids[:1+rnd.IntN(4)] { // distinct rows: one deleted is not touched again
				switch rnd.IntN(6) {
				case 0, 1:
					must(t, demo.UpdateRow(ctx, db, dialect, "SCHEDULE", id, map[string]any{"COMMENT": fmt.Sprintf("раунд %d", round)}))
					did = append(did, fmt.Sprintf("update %d", id))
				case 2:
					start := day().Add(time.Duration(9*60+rnd.IntN(16)*30) * time.Minute)
					added, err := demo.AddAppointment(ctx, db, dialect, demo.NewAppointment{DoctorID: doctors[rnd.IntN(len(doctors))], Start: start})
					must(t, err)
					did = append(did, fmt.Sprintf("insert %d on %s", added, start.Format("01-02")))
				case 3:
					if err := demo.DeleteAppointment(ctx, db, dialect, id); err != nil {
						t.Fatal(err)
					}
					did = append(did, fmt.Sprintf("delete %d", id))
				case 4:
					start := day().Add(time.Duration(9*60+rnd.IntN(16)*30) * time.Minute)
					must(t, demo.MoveAppointment(ctx, db, dialect, id, start))
					did = append(did, fmt.Sprintf("move %d to %s", id, start.Format("01-02")))
				case 5: // stamped two hours back: appointment.changed cannot see it
					_, err := db.ExecContext(ctx, fmt.Sprintf("UPDATE SCHEDULE SET COMMENT = 'поздно %d', MODIFYDATE = %v WHERE SCHEDID = %d",
						round, convert.ToOLEDateTime(time.Now().In(zone).Add(-2*time.Hour)), id))
					must(t, err)
					did = append(did, fmt.Sprintf("late update %d", id))
				}
			}
		}
		rec.reset()
		s := eng.Poll(ctx)
		if !s.OK() {
			t.Fatalf("round %d (%v): poll failed: %v", round, did, s.Err())
		}
		if _, err := eng.DeliverAll(ctx); err != nil {
			t.Fatal(err)
		}
		for _, ev := range rec.events() {
			switch ev.Op {
			case connectors.OpUpsert:
				given[ev.Key] = ev.Fingerprint
			case connectors.OpDelete:
				delete(given, ev.Key)
			}
		}
		es := s.Entities[0]
		if es.PartialSnapshot {
			partial++
		}
		checkStoredSummary(t, eng, round)
		if es.SummaryOnly {
			summaryOnly++
			if len(did) > 0 {
				t.Fatalf("round %d: %v, yet the poll was decided by the day summaries alone", round, did)
			}
		}
		if es.Held > 0 {
			t.Fatalf("round %d: %d deletions held", round, es.Held)
		}
		truth := map[string]string{}
		err := src.ReadAll(ctx, mapping.EntityAppointment, w, func(it mapping.Item) error {
			b, err := json.Marshal(it.Record)
			if err != nil {
				return err
			}
			truth[it.Record.RecordKey()] = fpHex(Fingerprint(b))
			return nil
		}, func(mapping.Skip) {})
		must(t, err)
		var wrong []string
		for k, fp := range truth {
			if given[k] != fp {
				wrong = append(wrong, "stale or missing "+k)
			}
		}
		for k := range given {
			if _, ok := truth[k]; !ok {
				wrong = append(wrong, "extra "+k)
			}
		}
		if len(wrong) > 0 {
			slices.Sort(wrong)
			t.Fatalf("round %d (%v, mode %s): the connector's records differ from the MIS: %v", round, did, es.Mode, wrong)
		}
	}
	if summaryOnly == 0 {
		t.Error("no round was decided by the day summaries alone")
	}
	if partial == 0 {
		t.Error("no round ran over a partial snapshot")
	}
	t.Logf("%d rounds decided by the day summaries alone, %d over a partial snapshot", summaryOnly, partial)
}

// checkStoredSummary: the day summary stored with the snapshot is the one the whole
// snapshot gives — whether the last commit computed it from a whole snapshot or, over
// a partial one, from the stored summary and the records it changed.
func checkStoredSummary(t *testing.T, eng *Engine, round int) {
	t.Helper()
	ctx := context.Background()
	stored, err := eng.o.Store.LoadSummary(ctx, mapping.EntityAppointment)
	must(t, err)
	snap, err := eng.o.Store.LoadSnapshot(ctx, mapping.EntityAppointment)
	must(t, err)
	if want := eng.summarizeSnapshot(snap); !bytes.Equal(stored, want) {
		got, _ := decodeDays(stored, eng.o.Zone.String())
		whole, _ := decodeDays(want, eng.o.Zone.String())
		t.Fatalf("round %d: stored day summary %v, the snapshot's %v", round, got, whole)
	}
}
