package mapping_test

import (
	"context"
	"strings"
	"testing"

	"medsync/mapping"
	"medsync/mapping/demo"
)

// TestUnplaceableBusyRowKeepsFreeSlots (issue 9 hole 2, the slot busy read): a busy
// row of doctor d1 whose date cannot be read may occupy any of d1's slots, so none of
// d1's free slots goes out — each is reported as a skipped row with its key, which
// the engine counts as present (it keeps its last state). Doctor d2 is unaffected.
func TestUnplaceableBusyRowKeepsFreeSlots(t *testing.T) {
	shift := func(id, doctor string) string {
		return "SELECT '" + id + "' AS id, '" + doctor + "' AS doctor_id, 'b1' AS branch_id, '2030-03-20' AS date, '09:00' AS start_time, '11:00' AS end_time, " +
			"NULL AS break_start, NULL AS break_end, NULL AS room, 30 AS slot_minutes\n"
	}
	dir := writeProfile(t, map[string]string{
		"sqlite.sql": "-- name: shift.rows\n" + shift("s1", "d1") + "UNION ALL\n" + shift("s2", "d2") +
			"-- name: slot.busy\n" +
			"SELECT 'd1' AS doctor_id, '20-03-2030x' AS date, '09:00' AS start_time, '09:30' AS end_time\n" +
			"UNION ALL SELECT 'd2', '2030-03-20', '09:00', '09:30'\n",
	})
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, _, _ := demo.TestDB(t, demo.SQLite)
	src := mapping.NewSource(db, mapping.DialectSQLite, p, mapping.SourceOptions{Zone: moscow})
	w := mapping.Window{From: at(moscow, 2030, 3, 19, 0, 0), To: at(moscow, 2030, 3, 22, 0, 0)}
	free := map[string]int{}
	busy := map[string]int{}
	var skips []mapping.Skip
	err = src.ReadAll(context.Background(), mapping.EntitySlot, w, func(it mapping.Item) error {
		sl := it.Record.(*mapping.Slot)
		if sl.Free {
			free[sl.DoctorID]++
		} else {
			busy[sl.DoctorID]++
		}
		return nil
	}, func(s mapping.Skip) { skips = append(skips, s) })
	if err != nil {
		t.Fatal(err)
	}
	if free["d1"] != 0 || busy["d1"] != 0 || free["d2"] != 3 || busy["d2"] != 1 {
		t.Fatalf("free %v busy %v, want d1 none and d2 3 free + 1 busy", free, busy)
	}
	if len(skips) != 4 {
		t.Fatalf("%d skips, want d1's 4 slots: %v", len(skips), skips)
	}
	for _, s := range skips {
		if s.Entity != mapping.EntitySlot || s.Key == "" || !strings.Contains(s.Problem, "doctor d1: date") {
			t.Fatalf("skip %+v: want a keyed slot skip naming doctor d1 and the date column", s)
		}
	}
}
