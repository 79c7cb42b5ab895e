package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

func configFor(driver, dsn, extra string) string {
	if driver == "pgx" {
		driver = "postgres"
	}
	return fmt.Sprintf("timezone = Europe/Moscow\n[mis]\ndriver = %s\ndsn = %s\nprofile = demo\ndays_back = 1\ndays_ahead = 14\n%s\n[connector.file]\npath = out.jsonl\n", driver, dsn, extra)
}

// TestCheckAllCountsSkips is issue 9 hole 8: a fifth of the appointments in the
// window have a status the profile does not map. Plain check reads 5 rows per
// statement and may not meet them; check --all reads every row, counts the skips per
// entity and problem, and fails when their share is above max_skipped_share.
func TestCheckAllCountsSkips(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testCheckAll(t, dialect) })
	}
}

func testCheckAll(t *testing.T, dialect string) {
	ctx := context.Background()
	msk, _ := time.LoadLocation("Europe/Moscow")
	today := time.Now().In(msk)
	db, driver, dsn, _ := demo.TestMIS(t, dialect, demo.Sizes{Branches: 1, Doctors: 4, Patients: 60, Appointments: 200, Days: 30, Today: today, Seed: 3})
	from := convert.ToOLE(convert.FromTime(today.AddDate(0, 0, -1)))
	rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT SCHEDID FROM SCHEDULE WHERE DELETED = 0 AND WDATE >= %d AND WDATE < %d ORDER BY SCHEDID DESC", int(from), int(from)+15))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	bad := len(ids) / 5
	if bad < 5 {
		t.Fatalf("only %d appointments in the window", len(ids))
	}
	for _, id := range ids[:bad] {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("UPDATE SCHEDULE SET STATUS = 9 WHERE SCHEDID = %d", id)); err != nil {
			t.Fatal(err)
		}
	}
	path := writeINI(t, configFor(driver, dsn, "max_skipped_share = 0.1"))
	var out strings.Builder
	rep := Run(ctx, path, &out, Options{All: true})
	t.Log("\n" + out.String())
	line := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, " entity appointment:") {
			line = l
		}
	}
	want := fmt.Sprintf("%d rows skipped; per problem: status: code is not in the profile's map.status", bad)
	if !strings.HasPrefix(line, "✗") || !strings.Contains(line, want) || !strings.Contains(line, fmt.Sprintf("): %d (e.g. appointment ", bad)) ||
		!strings.Contains(line, "medsync once exits 4") {
		t.Fatalf("check --all, appointment line %q, want ✗ with %q", line, want)
	}
	if rep.OK() {
		t.Fatal("check --all passed with a fifth of the appointments skipped")
	}
	// With the check turned off it reports the counts and passes that line.
	out.Reset()
	Run(ctx, writeINI(t, configFor(driver, dsn, "max_skipped_share = 1")), &out, Options{All: true})
	if !strings.Contains(out.String(), "✓ entity appointment: ") || !strings.Contains(out.String(), want) {
		t.Fatalf("check --all with max_skipped_share = 1:\n%s", out.String())
	}
}

// TestCheckReportsEntitiesTheProfileCannotRead: a connector takes services, the
// profile has no service.rows: check says that services are not synced.
func TestCheckReportsEntitiesTheProfileCannotRead(t *testing.T) {
	_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 2, Patients: 10, Appointments: 10, Days: 6, Seed: 2})
	dir := filepath.Join(t.TempDir(), "profile")
	if _, err := mapping.ExportProfile("demo", dir); err != nil {
		t.Fatal(err)
	}
	common := filepath.Join(dir, "common.sql")
	b, err := os.ReadFile(common)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "-- name: service.rows")
	j := strings.Index(s[i+1:], "-- name: ") // the block ends at the next header
	if f := strings.Index(s[i+1:], "-- fragment: "); f >= 0 && f < j {
		j = f
	}
	if i < 0 || j < 0 {
		t.Fatalf("demo common.sql has no service.rows block")
	}
	if err := os.WriteFile(common, []byte(s[:i]+s[i+1+j:]), 0o600); err != nil {
		t.Fatal(err)
	}
	ini := strings.Replace(configFor("sqlite", dsn, ""), "profile = demo", "profile = "+filepath.ToSlash(dir), 1)
	rep, out := run(t, writeINI(t, ini))
	want := "✗ entity service: profile demo has no statement for entity service, which connector file takes: service is not synced"
	if rep.OK() || !strings.Contains(out, want) {
		t.Fatalf("check did not report the unread entity; want %q in:\n%s", want, out)
	}
}
