package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"

	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

// seedMain is `bench seed DRIVER DSN APPOINTMENTS`: the demo MIS of that size, with a
// doctor per 2000 appointments and a patient per 10, over two years of shifts.
func seedMain(driver, dsn, appts string) error {
	n, err := strconv.Atoi(appts)
	if err != nil {
		return err
	}
	sz := demo.DefaultSizes()
	sz.Appointments, sz.Doctors, sz.Patients, sz.Days = n, max(40, n/2000), max(5000, n/10), 730
	sz.BadRows, sz.Replace = false, true
	// Now on the MIS's clock, with the time: the seeded MODIFYDATE values stay before
	// it (a date alone lets them reach 07:00 today, after a bench started at night,
	// and every row would look just changed to the 1% polls).
	sz.Today = time.Now().In(benchZone())
	st, err := demo.Init(context.Background(), driver, dsn, sz)
	if err != nil {
		return err
	}
	fmt.Printf("seeded: %d patients, %d shifts, %d appointments in %.1fs\n", st.Patients, st.Shifts, st.Appointments, st.Elapsed.Seconds())
	return settle(driver, dsn)
}

// settle does what a production database has done long before anyone polls it:
// statistics gathered and, on PostgreSQL, the visibility map written by (auto)vacuum —
// without it a freshly loaded table can use no index-only scan, which would slow the
// raw key scan and medsync's summaries alike and say nothing about a real MIS.
func settle(driver, dsn string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	q := "ANALYZE"
	if driver == "pgx" {
		q = "VACUUM ANALYZE"
	}
	if _, err := db.Exec(q); err != nil {
		return fmt.Errorf("seed: %s: %w", q, err)
	}
	return nil
}

// The raw floors, run as child processes of the bench (so that each has its own peak
// RSS): the same window as medsync's poll, the same table, nothing but scanning.
const (
	rawKeysSQL = `SELECT SCHEDID, MODIFYDATE FROM SCHEDULE WHERE WDATE >= %v AND WDATE < %v`
	rawRowsSQL = `SELECT SCHEDID, PCODE, DOCT_ID, FILIAL_ID, WDATE, BHOUR, EHOUR, STATUS, DELETED, DEL_REASON_ID,
SOURCE, ROOM, COMMENT, EXT_ID, MODIFYDATE FROM SCHEDULE WHERE WDATE >= %v AND WDATE < %v`
)

// windowOLE is the poll window of the bench config (365 days back, 365 ahead, Moscow)
// as OLE day numbers, as the demo profile's :from_ole / :to_ole.
func windowOLE() (float64, float64) {
	zone := benchZone()
	y, m, d := time.Now().In(zone).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, zone)
	return convert.ToOLE(convert.FromTime(today.AddDate(0, 0, -365))), convert.ToOLE(convert.FromTime(today.AddDate(0, 0, 365)))
}

// benchZone is the zone of the bench config (the MIS's and the service's).
func benchZone() *time.Location {
	zone, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		zone = time.FixedZone("MSK", 3*3600)
	}
	return zone
}

// rawMain is `bench raw keys|rows -driver D -dsn DSN`: it prints the rows it scanned.
func rawMain(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: bench raw keys|rows -driver D -dsn DSN")
	}
	what := args[0]
	fs := flag.NewFlagSet("raw", flag.ContinueOnError)
	driver := fs.String("driver", "sqlite", "sqlite or pgx")
	dsn := fs.String("dsn", "", "data source")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	q := rawKeysSQL
	if what == "rows" {
		q = rawRowsSQL
	}
	from, to := windowOLE()
	db, err := sql.Open(*driver, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), fmt.Sprintf(q, from, to))
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, n)
	return nil
}
