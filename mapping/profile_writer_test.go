package mapping_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

func TestWriter(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL} {
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
