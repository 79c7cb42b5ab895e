package booking

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

// readmeBlock returns the SQL block marked <!-- marker --> in the views README.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "mapping", "profiles", "views", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(marker) + " -->\n```sql\n(.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatalf("views README has no block %s", marker)
	}
	return string(m[1])
}

// The views README's booking statements, written in canonical units against the
// views, book into the demo MIS on PostgreSQL exactly as the demo profile does.
func TestViewsReadmeBookingStatements(t *testing.T) {
	f := newFixture(t, demo.Postgres)
	ctx := context.Background()
	for _, stmt := range strings.Split(readmeBlock(t, "views:postgres"), ";\n") {
		if strings.TrimSpace(stmt) != "" {
			if _, err := f.db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("views template: %v\n%s", err, stmt)
			}
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "profile.ini"), []byte("name = viewsbooking\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "postgres.booking.sql"), []byte(readmeBlock(t, "booking:postgres")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := mapping.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	f.host.mis = mapping.NewWriter(f.db, demo.Postgres, p)
	if l, ok := f.host.mis.(connectors.MISLimits); !ok || l.MaxLen("comment") != 500 {
		t.Fatalf("the README's limit declaration is not read")
	}
	b := f.booker(Options{DaysAhead: 14})
	unnamed := f.req("v-1", f.at(14*time.Hour), 30)
	unnamed.BranchID = ""
	res, err := b.Book(ctx, unnamed)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := b.Book(ctx, unnamed); err != nil || !again.Existing || again.AppointmentID != res.AppointmentID {
		t.Errorf("again: %+v %v", again, err)
	}
	for _, c := range []struct {
		name string
		r    Request
		code string
	}{
		{"03:00", f.req("v-2", f.at(3*time.Hour), 30), CodeOutsideSchedule},
		{"in the break", f.req("v-3", f.at(16*time.Hour), 30), CodeOutsideSchedule},
		{"overlap", f.req("v-4", f.at(14*time.Hour+15*time.Minute), 30), CodeSlotTaken},
		{"hidden doctor", func() Request { r := f.req("v-5", f.at(15*time.Hour), 30); r.DoctorID = fmt.Sprint(f.hidden); return r }(), CodeDoctorNotBookable},
		{"unknown patient", func() Request { r := f.req("v-6", f.at(15*time.Hour), 30); r.PatientID = "99999999"; return r }(), CodePatientNotFound},
	} {
		if _, err := b.Book(ctx, c.r); refusalCode(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	var wdate, bh, eh float64
	var branch int
	if err := f.db.QueryRow("SELECT WDATE, BHOUR, EHOUR, FILIAL_ID FROM SCHEDULE WHERE EXT_ID = 'v-1'").Scan(&wdate, &bh, &eh, &branch); err != nil {
		t.Fatal(err)
	}
	if int(wdate) != oleDay(f.shiftDay) || math.Abs(bh-14.0/24) > 1e-9 || math.Abs(eh-14.5/24) > 1e-9 || branch != f.shiftBranch {
		t.Errorf("row: WDATE %v BHOUR %v EHOUR %v FILIAL_ID %d; want %d, 14:00, 14:30, branch %d", wdate, bh, eh, branch, oleDay(f.shiftDay), f.shiftBranch)
	}
	if c, err := b.Cancel(ctx, CancelRequest{Channel: "test", ExtID: "v-1"}); err != nil || c.AppointmentID != res.AppointmentID {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	if c, err := b.Cancel(ctx, CancelRequest{Channel: "test", ExtID: "v-1"}); err != nil || !c.Existing {
		t.Errorf("cancel again: %+v %v", c, err)
	}
}
