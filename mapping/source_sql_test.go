package mapping_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/demo"
)

var moscow = mustZone("Europe/Moscow")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func testSizes() demo.Sizes {
	return demo.Sizes{Branches: 2, Doctors: 8, Patients: 300, Appointments: 600, Days: 20,
		Today: time.Date(2025, 3, 20, 0, 0, 0, 0, moscow), Seed: 7, BadRows: true}
}

func testWindow(sz demo.Sizes) mapping.Window {
	today := time.Date(sz.Today.Year(), sz.Today.Month(), sz.Today.Day(), 0, 0, 0, 0, moscow)
	return mapping.Window{From: today.AddDate(0, 0, -15), To: today.AddDate(0, 0, 15)}
}

// readResult is everything one ReadAll gave.
type readResult struct {
	records map[string]string // key -> JSON
	skips   []mapping.Skip
}

func readAll(t *testing.T, src mapping.Reader, entity string, w mapping.Window) readResult {
	t.Helper()
	res := readResult{records: map[string]string{}}
	err := src.ReadAll(context.Background(), entity, w, func(it mapping.Item) error {
		b, err := json.Marshal(it.Record)
		if err != nil {
			return err
		}
		if _, dup := res.records[it.Record.RecordKey()]; dup {
			t.Errorf("%s %s emitted twice", entity, it.Record.RecordKey())
		}
		res.records[it.Record.RecordKey()] = string(b)
		return nil
	}, func(s mapping.Skip) { res.skips = append(res.skips, s) })
	if err != nil {
		t.Fatalf("ReadAll(%s): %v", entity, err)
	}
	return res
}

func newSource(t *testing.T, db *sql.DB, dialect, profile string, warns *[]mapping.Skip, now time.Time) mapping.Reader {
	t.Helper()
	p, err := mapping.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	return mapping.NewSource(db, dialect, p, mapping.SourceOptions{
		Zone: moscow, QueryTimeout: time.Minute, Now: func() time.Time { return now },
		Warn: func(s mapping.Skip) {
			if warns != nil {
				*warns = append(*warns, s)
			}
		},
	})
}

func TestDemoProfileReadsDemoMIS(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			sz := testSizes()
			db, _, _, st := demo.TestMIS(t, dialect, sz)
			w := testWindow(sz)
			now := time.Date(2025, 3, 20, 12, 0, 0, 0, moscow)
			var warns []mapping.Skip
			src := newSource(t, db, dialect, "demo", &warns, now)
			ctx := context.Background()

			got := map[string]readResult{}
			for _, e := range mapping.Entities {
				got[e] = readAll(t, src, e, w)
			}
			// Counts: every seeded row is either a record or a skip.
			if n := len(got[mapping.EntityBranch].records); n != st.Branches {
				t.Errorf("branches: %d records, seeded %d", n, st.Branches)
			}
			if n := len(got[mapping.EntitySpecialty].records); n != st.Specialities {
				t.Errorf("specialties: %d records, seeded %d", n, st.Specialities)
			}
			if n, s := len(got[mapping.EntityPatient].records), len(got[mapping.EntityPatient].skips); n+s != st.Patients || s == 0 {
				t.Errorf("patients: %d records + %d skips, seeded %d (bad rows must be skipped)", n, s, st.Patients)
			}
			if len(got[mapping.EntityShift].records) == 0 || len(got[mapping.EntityAppointment].records) == 0 || len(got[mapping.EntitySlot].records) == 0 {
				t.Fatalf("window read nothing: %d shifts, %d appointments, %d slots",
					len(got[mapping.EntityShift].records), len(got[mapping.EntityAppointment].records), len(got[mapping.EntitySlot].records))
			}

			// Every deliberately bad row is reported, by a skip or a dropped-value warning.
			reported := map[string]string{}
			for e, r := range got {
				for _, s := range r.skips {
					reported[e+"/"+s.Key] = s.Problem
				}
			}
			for _, s := range warns {
				reported[s.Entity+"/"+s.Key] = s.Problem
			}
			table := map[string]string{"DOCTORS": "doctor", "CLIENTS": "patient", "SCHEDULE": "appointment"}
			for _, b := range st.Bad {
				e := table[b.Table]
				if b.Table == "SCHEDULE" {
					// Bad appointments may lie outside the window: read them by key.
					var skips []mapping.Skip
					if err := src.ReadKeys(ctx, e, []string{b.Key}, func(mapping.Item) error { return nil },
						func(s mapping.Skip) { skips = append(skips, s) }); err != nil {
						t.Fatal(err)
					}
					if len(skips) != 1 || skips[0].Problem == "" {
						t.Errorf("bad %s %s (%s): ReadKeys skips %v", b.Table, b.Key, b.Problem, skips)
					}
					continue
				}
				if b.Table == "CLIENTS" && strings.Contains(b.Problem, "1251") && dialect != demo.SQLite {
					continue
				}
				if p, ok := reported[e+"/"+b.Key]; !ok || p == "" {
					t.Errorf("bad %s %s (%s) was neither skipped nor reported", b.Table, b.Key, b.Problem)
				}
			}
			for _, s := range got[mapping.EntityPatient].skips {
				if !strings.Contains(s.String(), "patient "+s.Key) || s.Row == 0 {
					t.Errorf("skip is not readable: %q", s)
				}
			}

			// Appointments: ScanVersions, ReadKeys and ReadAll agree.
			for _, e := range []string{mapping.EntityPatient, mapping.EntityShift, mapping.EntityAppointment} {
				if !src.HasVersions(e) {
					t.Fatalf("demo declares %s.versions", e)
				}
				var keys []string
				versions := map[string]uint64{}
				if err := src.ScanVersions(ctx, e, w, func(k []byte, v uint64) error {
					keys = append(keys, string(k))
					versions[string(k)] = v
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				all := got[e]
				if len(versions) != len(all.records)+len(all.skips) {
					t.Errorf("%s: ScanVersions gave %d keys, ReadAll %d records + %d skips", e, len(versions), len(all.records), len(all.skips))
				}
				for k := range all.records {
					if versions[k] == 0 {
						t.Errorf("%s %s: read by ReadAll but has no version", e, k)
					}
				}
				// The demo profile reads the version with the row: the same token as the scan.
				if !src.RowVersions(e) {
					t.Errorf("%s: the demo profile's rows statement reads the version (AS version)", e)
				}
				if err := src.ReadAll(ctx, e, w, func(it mapping.Item) error {
					if k := it.Record.RecordKey(); it.Version != versions[k] {
						t.Errorf("%s %s: ReadAll version %x, ScanVersions %x", e, k, it.Version, versions[k])
					}
					return nil
				}, func(mapping.Skip) {}); err != nil {
					t.Fatal(err)
				}
				byKeys := map[string]string{}
				var keySkips int
				if err := src.ReadKeys(ctx, e, append(keys, "999999999"), func(it mapping.Item) error {
					b, _ := json.Marshal(it.Record)
					byKeys[it.Record.RecordKey()] = string(b)
					if it.Version != versions[it.Record.RecordKey()] {
						t.Errorf("%s %s: ReadKeys version %x, ScanVersions %x", e, it.Record.RecordKey(), it.Version, versions[it.Record.RecordKey()])
					}
					return nil
				}, func(mapping.Skip) { keySkips++ }); err != nil {
					t.Fatal(err)
				}
				if len(byKeys) != len(all.records) || keySkips != len(all.skips) {
					t.Errorf("%s: ReadKeys gave %d records + %d skips, ReadAll %d + %d", e, len(byKeys), keySkips, len(all.records), len(all.skips))
				}
				for k, v := range all.records {
					if byKeys[k] != v {
						t.Errorf("%s %s: ReadKeys %s, ReadAll %s", e, k, byKeys[k], v)
						break
					}
				}
			}

			// Spot checks of converted values.
			for _, js := range got[mapping.EntityAppointment].records {
				var a mapping.Appointment
				if err := json.Unmarshal([]byte(js), &a); err != nil {
					t.Fatal(err)
				}
				if !a.End.After(a.Start) && !a.End.Equal(a.Start) || !w.Contains(a.Start) && a.Start.Before(w.From.Add(-24*time.Hour)) {
					t.Errorf("appointment %s out of shape: %s", a.ID, js)
				}
				if a.Status == mapping.StatusCancelled && a.CancelReason == "" {
					t.Errorf("cancelled appointment %s without a reason: %s", a.ID, js)
				}
			}
			for _, js := range got[mapping.EntitySlot].records {
				var s mapping.Slot
				_ = json.Unmarshal([]byte(js), &s)
				if s.Start.Before(now) {
					t.Errorf("slot in the past: %s", js)
				}
			}

			// The views profile over the README's CREATE VIEW templates reads the same.
			createViews(t, db, dialect)
			vsrc := newSource(t, db, dialect, "views", nil, now)
			for _, e := range mapping.Entities {
				vr := readAll(t, vsrc, e, w)
				want := got[e]
				if len(vr.records) != len(want.records) {
					t.Errorf("views %s: %d records, demo profile %d", e, len(vr.records), len(want.records))
				}
				diffs := 0
				for k, v := range want.records {
					if vr.records[k] != v && diffs < 3 {
						diffs++
						t.Errorf("views %s %s:\n got %s\nwant %s", e, k, vr.records[k], v)
					}
				}
			}
		})
	}
}

// createViews runs the CREATE VIEW template of the dialect from the views README.
func createViews(t *testing.T, db *sql.DB, dialect string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("profiles", "views", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- views:" + dialect + " -->\n```sql\n(.*?)\n```")
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("views README has no template for %s", dialect)
	}
	for _, stmt := range strings.Split(string(m[1]), ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("views template (%s): %v\n%s", dialect, err, stmt)
		}
	}
}
