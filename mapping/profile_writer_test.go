package mapping_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

func TestWriter(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			db, _, _ := demo.TestDB(t, dialect)
			ctx := context.Background()
			if _, err := db.ExecContext(ctx, "CREATE TABLE BOOKINGS (ID INTEGER NOT NULL PRIMARY KEY, NOTE VARCHAR(100), AT_COLON VARCHAR(20))"); err != nil {
				t.Fatal(err)
			}
			dir := writeProfile(t, map[string]string{
				dialect + ".booking.sql": `-- name: write.booking
INSERT INTO BOOKINGS (ID, NOTE, AT_COLON) VALUES (:id, :note, '10:30')
-- name: write.find
SELECT ID, NOTE FROM BOOKINGS WHERE ID IN (:ids) ORDER BY ID
`,
			})
			p, err := mapping.LoadProfile(dir)
			if err != nil {
				t.Fatal(err)
			}
			w := mapping.NewWriter(db, dialect, p)
			if w == nil || !w.Has("booking") || !w.Has("write.find") || w.Has("cancel") {
				t.Fatalf("Has: %v", w)
			}
			// Committed.
			err = w.Tx(ctx, func(tx connectors.MISTx) error {
				for i, note := range []string{"Иванов", "Петров"} {
					if _, err := tx.Exec(ctx, "booking", map[string]any{"id": i + 1, "note": note}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Rolled back on error.
			boom := errors.New("boom")
			err = w.Tx(ctx, func(tx connectors.MISTx) error {
				if _, err := tx.Exec(ctx, "booking", map[string]any{"id": 3, "note": "x"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Tx error %v", err)
			}
			// A missing parameter and an unknown statement name the problem.
			err = w.Tx(ctx, func(tx connectors.MISTx) error {
				_, err := tx.Exec(ctx, "booking", map[string]any{"id": 4})
				return err
			})
			if err == nil || !strings.Contains(err.Error(), ":note") || !strings.Contains(err.Error(), "write.booking") {
				t.Errorf("missing parameter: %v", err)
			}
			err = w.Tx(ctx, func(tx connectors.MISTx) error {
				_, err := tx.Exec(ctx, "cancel", nil)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "no statement write.cancel") {
				t.Errorf("unknown statement: %v", err)
			}
			var notes []string
			err = w.Tx(ctx, func(tx connectors.MISTx) error {
				rows, err := tx.Query(ctx, "find", map[string]any{"ids": []int{1, 2, 3, 4}})
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id int
					var note string
					if err := rows.Scan(&id, &note); err != nil {
						return err
					}
					notes = append(notes, note)
				}
				return rows.Err()
			})
			if err != nil || strings.Join(notes, ",") != "Иванов,Петров" {
				t.Errorf("rows %v, %v", notes, err)
			}
		})
	}
	// Read-only profiles give no writer.
	p, err := mapping.LoadProfile("views")
	if err != nil {
		t.Fatal(err)
	}
	if w := mapping.NewWriter(nil, "sqlite", p); w != nil {
		t.Errorf("views profile has a writer: %v", w)
	}
	var nilWriter *mapping.Writer
	if nilWriter.Has("booking") || nilWriter.Tx(context.Background(), nil) == nil {
		t.Error("nil writer is not safe")
	}
}

// Canonical date-time parameters (the booking path's :date, :start_local, …) are Go
// times whose wall clock is the branch's local time, in UTC: every driver writes that
// wall clock unchanged (SQLite, which has no date type, as 'YYYY-MM-DD HH:MM:SS' text
// its date functions read). And "-- limit :name N" declares a text parameter's length.
func TestWriterWallClockTimesAndLimits(t *testing.T) {
	at := time.Date(2027, 1, 5, 10, 30, 0, 0, time.UTC)
	echo := map[string]string{
		demo.SQLite:   "SELECT date(:at) AS d, time(:at) AS t",
		demo.Postgres: "SELECT CAST(CAST(CAST(:at AS TIMESTAMP) AS DATE) AS TEXT) AS d, CAST(CAST(CAST(:at AS TIMESTAMP) AS TIME) AS TEXT) AS t",
		demo.MySQL:    "SELECT CAST(CAST(:at AS DATE) AS CHAR) AS d, CAST(CAST(:at AS TIME) AS CHAR) AS t",
		demo.Firebird: "SELECT CAST(CAST(:at AS DATE) AS VARCHAR(20)) AS d, SUBSTRING(CAST(CAST(:at AS TIME) AS VARCHAR(20)) FROM 1 FOR 8) AS t FROM RDB$DATABASE",
	}
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			db, _, _ := demo.TestDB(t, dialect)
			dir := writeProfile(t, map[string]string{
				dialect + ".booking.sql": "-- name: write.echo\n-- limit :note 250\n-- limit :other 9\n" + echo[dialect] + "\n" +
					"-- name: write.other\n-- limit :note 100\nSELECT 1\n",
			})
			p, err := mapping.LoadProfile(dir)
			if err != nil {
				t.Fatal(err)
			}
			w := mapping.NewWriter(db, dialect, p)
			var d, tm string
			err = w.Tx(context.Background(), func(tx connectors.MISTx) error {
				rows, err := tx.Query(context.Background(), "echo", map[string]any{"at": at})
				if err != nil {
					return err
				}
				defer rows.Close()
				if !rows.Next() {
					return rows.Err()
				}
				return rows.Scan(&d, &tm)
			})
			if err != nil {
				t.Fatal(err)
			}
			if d != "2027-01-05" || tm != "10:30:00" {
				t.Errorf("the MIS read %q %q, want 2027-01-05 10:30:00", d, tm)
			}
			l, ok := w.(connectors.MISLimits)
			if !ok {
				t.Fatal("the writer reports no limits")
			}
			if n := l.MaxLen("note"); n != 100 {
				t.Errorf("MaxLen(note) = %d, want the smallest declared, 100", n)
			}
			if n := l.MaxLen("other"); n != 9 {
				t.Errorf("MaxLen(other) = %d", n)
			}
			if n := l.MaxLen("comment"); n != 0 {
				t.Errorf("MaxLen(comment) = %d, want 0 (not declared)", n)
			}
		})
	}
}
