package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
	"medsync/service/store"
)

// TestDuplicateKeysWithoutReaderSet: with a Source that keeps no set of the keys it
// read (SourceOptions.DuplicatesChecked, as the service runs it), a statement that
// returns a doctor twice still gives the connector each doctor once, reports the
// second row as a duplicate, and later polls neither resend nor delete anybody.
func TestDuplicateKeysWithoutReaderSet(t *testing.T) {
	ctx := context.Background()
	now := time.Now().In(msk)
	db, _, _, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 3, Patients: 10, Appointments: 10, Days: 3, Today: now, Seed: 5})
	dir := filepath.Join(t.TempDir(), "dup")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "profile.ini"), []byte("name = dup\nextends = demo\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "common.sql"), []byte(`-- name: doctor.rows
SELECT DOCT_ID AS id, FILIAL_ID AS branch_id, SPEC_ID AS specialty_id,
       LASTNAME AS last_name, FIRSTNAME AS first_name, MIDNAME AS middle_name, SNILS AS snils,
       COALESCE(HIDEINTALONS, 0) AS online_booking, SLOT_MIN AS slot_minutes
FROM DOCTORS
WHERE ENABLED = 1
UNION ALL
SELECT DOCT_ID, FILIAL_ID, SPEC_ID, LASTNAME || ' (2)', FIRSTNAME, MIDNAME, SNILS, COALESCE(HIDEINTALONS, 0), SLOT_MIN
FROM DOCTORS
WHERE DOCT_ID = (SELECT MIN(DOCT_ID) FROM DOCTORS WHERE ENABLED = 1)
`), 0o644))
	prof, err := mapping.LoadProfile(dir)
	must(t, err)
	logs := &lockedBuffer{}
	src := mapping.NewSource(db, demo.SQLite, prof, mapping.SourceOptions{Zone: msk, DuplicatesChecked: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	st, err := store.Open(ctx, t.TempDir())
	must(t, err)
	defer st.Close()
	rec := &recorder{}
	eng, err := New(Options{
		Reader: src, Store: st, Zone: msk, DaysBack: 2, DaysAhead: 2,
		Targets: []*Target{{Name: "rec", Conn: rec, Entities: []string{mapping.EntityDoctor}, BatchSize: 100}},
		Guard:   Guard{MaxShare: 0.5, MinCount: 3},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	must(t, err)
	var enabled int
	must(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM DOCTORS WHERE ENABLED = 1`).Scan(&enabled))
	for round := 0; round < 3; round++ {
		rec.reset()
		s := eng.Poll(ctx)
		if !s.OK() {
			t.Fatalf("poll %d: %v", round, s.Err())
		}
		_, err := eng.DeliverAll(ctx)
		must(t, err)
		evs := rec.events()
		keys := map[string]int{}
		for _, ev := range evs {
			if ev.Op == connectors.OpDelete {
				t.Fatalf("poll %d deleted %s", round, ev.Key)
			}
			keys[ev.Key]++
			if strings.Contains(string(ev.Data), "(2)") {
				t.Errorf("poll %d sent the second row of %s: %s", round, ev.Key, ev.Data)
			}
		}
		if round == 0 && len(keys) != enabled {
			t.Errorf("first poll: %d doctors sent (%v), want %d, once each", len(keys), keys, enabled)
		}
		if round > 0 && len(evs) != 0 {
			t.Errorf("poll %d resent %d doctors", round, len(evs))
		}
		if es := s.Entities[0]; es.Skipped != 1 || es.Read != enabled {
			t.Errorf("poll %d: read %d, skipped %d; want %d and the duplicate", round, es.Read, es.Skipped, enabled)
		}
	}
	if !strings.Contains(logs.String(), "duplicate key") {
		t.Errorf("no duplicate reported in the log:\n%s", logs.String())
	}
}

// lockedBuffer is a log sink safe for the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
