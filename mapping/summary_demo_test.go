package mapping_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

// TestDemoSummariesAddUp: in every dialect that runs here, each summary statement of
// the demo profile (per day for appointments and shifts, one for the whole table of
// patients) covers exactly the rows its versions statement returns, and every
// statement that returns a row's checksum (rows, by_keys, versions, changed) returns
// the same one: per day, the summary's row count and checksum are the count and sum
// of the rows read in full, and the changed rows (since long ago) are those rows with
// the same checksum and day. A checksum expression out of step in one statement would
// make every poll scan its days, or hide a change.
func TestDemoSummariesAddUp(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			zone, err := time.LoadLocation("Europe/Moscow")
			if err != nil {
				t.Skip(err)
			}
			now := time.Now().In(zone)
			db, _, _, _ := demo.TestMIS(t, dialect, demo.Sizes{Branches: 1, Doctors: 4, Patients: 50, Appointments: 300, Days: 20, Today: now, Seed: 5})
			prof, err := mapping.LoadProfile("demo")
			if err != nil {
				t.Fatal(err)
			}
			src := mapping.NewSource(db, dialect, prof, mapping.SourceOptions{Zone: zone})
			w := mapping.Window{From: now.AddDate(0, 0, -30), To: now.AddDate(0, 0, 30)}
			for _, entity := range []string{mapping.EntityAppointment, mapping.EntityShift, mapping.EntityPatient} {
				if !src.HasSummary(entity) {
					t.Errorf("%s: no summary in the demo profile", entity)
					continue
				}
				type day struct{ rows, sum int64 }
				full := map[convert.Date]day{}
				sums := map[string]uint32{}
				days := map[string]convert.Date{}
				var keys []string
				err := src.ReadAll(ctx, entity, w, func(it mapping.Item) error {
					if !it.HasChecksum {
						return fmt.Errorf("%s %s: rows returns no checksum", entity, it.Record.RecordKey())
					}
					k := it.Record.RecordKey()
					var d convert.Date // patients: one bucket, the whole table
					if wr, ok := it.Record.(mapping.Windowed); ok {
						d = convert.FromTime(wr.WindowDay())
					}
					f := full[d]
					f.rows++
					f.sum += int64(it.Checksum)
					full[d] = f
					sums[k], days[k] = it.Checksum, d
					keys = append(keys, k)
					return nil
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) == 0 {
					t.Fatalf("%s: no rows in the window", entity)
				}
				got := map[convert.Date]day{}
				if err := src.Summaries(ctx, entity, w, func(b mapping.Bucket) error {
					if !b.Valid {
						return fmt.Errorf("%s %s: summary without a checksum", entity, b.Day)
					}
					g := got[b.Day]
					g.rows += b.Rows
					g.sum += b.Checksum
					got[b.Day] = g
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(full) {
					t.Errorf("%s: summaries %v, the rows read in full add up to %v", entity, got, full)
				}
				check := func(what, key string, sum uint32, ok bool) {
					t.Helper()
					if want, known := sums[key]; !known || !ok || sum != want {
						t.Errorf("%s %s: %s checksum %d (%v), rows says %d (%v)", entity, key, what, sum, ok, want, known)
					}
				}
				n := 0
				if err := src.ScanChecksums(ctx, entity, w, func(k []byte, _ uint64, sum uint32, ok bool) error {
					n++
					check("versions", string(k), sum, ok)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if n != len(keys) {
					t.Errorf("%s: versions returns %d rows, rows %d", entity, n, len(keys))
				}
				if err := src.ReadKeys(ctx, entity, keys, func(it mapping.Item) error {
					check("by_keys", it.Record.RecordKey(), it.Checksum, it.HasChecksum)
					return nil
				}, nil); err != nil {
					t.Fatal(err)
				}
				if !src.HasChanged(entity) {
					continue
				}
				n = 0
				if err := src.ScanChanged(ctx, entity, w, now.AddDate(-30, 0, 0), func(r mapping.ChangedRow) error {
					n++
					check("changed", string(r.Key), r.Checksum, r.HasChecksum)
					if d := days[string(r.Key)]; d != r.Day {
						t.Errorf("%s %s: changed says day %s, rows %s", entity, r.Key, r.Day, d)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if n != len(keys) {
					t.Errorf("%s: changed since long ago returns %d rows, rows %d", entity, n, len(keys))
				}
			}
		})
	}
}
