package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"medsync/mapping/demo"
)

// event is one line of the file connector's output.
type event struct {
	Entity string `json:"entity"`
	Op     string `json:"op"`
	Key    string `json:"key"`
	Data   struct {
		Free *bool `json:"free"`
	} `json:"data"`
}

// demoCLI is a config.ini over a test demo MIS with the file connector, and the
// events written so far.
type demoCLI struct {
	t      *testing.T
	cfg    string
	out    string
	offset int
}

func newDemoCLI(t *testing.T, driver, dsn, extra string) *demoCLI {
	t.Helper()
	if driver == "pgx" {
		driver = "postgres"
	}
	dir := t.TempDir()
	ini := fmt.Sprintf(`[service]
state_dir = state
timezone = Europe/Moscow
[mis]
driver = %s
dsn = %s
profile = demo
days_back = 1
days_ahead = 14
%s
[connector.file]
path = out/events.jsonl
`, driver, dsn, extra)
	cfg := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfg, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	return &demoCLI{t: t, cfg: cfg, out: filepath.Join(dir, "out", "events.jsonl")}
}

func (d *demoCLI) run(args ...string) (int, string, string) {
	d.t.Helper()
	return medsync(d.t, append([]string{"-c", d.cfg}, args...)...)
}

// events returns the events written since the last call.
func (d *demoCLI) events() []event {
	d.t.Helper()
	f, err := os.Open(d.out)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		if n++; n <= d.offset {
			continue
		}
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			d.t.Fatalf("event line %d: %v", n, err)
		}
		out = append(out, e)
	}
	d.offset = n
	return out
}

// TestMassDeleteHoldsTheSlotsItFrees is issue 9 hole 1: the appointments table
// emptied in the MIS. The guard holds the appointment deletions, and the busy slots
// those appointments occupied must not go out free in the same poll (patients could
// book over existing visits); `once` says so with exit code 3. Confirming the
// appointment deletions releases both.
func TestMassDeleteHoldsTheSlotsItFrees(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) { testMassDeleteHoldsSlots(t, dialect) })
	}
}

func testMassDeleteHoldsSlots(t *testing.T, dialect string) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	sizes := demo.Sizes{Branches: 1, Doctors: 4, Patients: 120, Appointments: 300, Days: 30, Today: time.Now().In(msk), Seed: 11}
	db, driver, dsn, _ := demo.TestMIS(t, dialect, sizes)
	d := newDemoCLI(t, driver, dsn, "")
	if code, out, errs := d.run("once"); code != 0 {
		t.Fatalf("first once: exit %d\n%s\n%s", code, out, errs)
	}
	busy := map[string]bool{}
	appts := 0
	for _, e := range d.events() {
		switch {
		case e.Entity == "slot" && e.Data.Free != nil && !*e.Data.Free:
			busy[e.Key] = true
		case e.Entity == "appointment":
			appts++
		}
	}
	if len(busy) < 30 || appts < 30 {
		t.Fatalf("the demo MIS gave %d busy slots and %d appointments; the test needs more", len(busy), appts)
	}

	for _, q := range []string{"DELETE FROM SCHEDSERV", "DELETE FROM SCHEDULE"} {
		if _, err := db.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := d.run("once")
	if code != exitHeld || !strings.Contains(errs, "medsync deletions confirm") {
		t.Fatalf("once after the mass delete: exit %d (want %d)\n%s\n%s", code, exitHeld, out, errs)
	}
	for _, e := range d.events() {
		if e.Entity == "appointment" && e.Op == "delete" {
			t.Fatalf("appointment %s deleted while the mass deletion is held", e.Key)
		}
		if e.Entity == "slot" && busy[e.Key] {
			t.Fatalf("busy slot %s went out (%s, free=%v) while the deletions that free it are held", e.Key, e.Op, e.Data.Free != nil && *e.Data.Free)
		}
	}
	code, out, _ = d.run("deletions", "list")
	// ENTITY HELD CONFIRMED HELD SINCE CHANGES
	if code != 0 || !regexpMatch(`(?m)^appointment\s+[1-9][0-9]*\s+0\s+\S+ \S+ \S+\s+0$`, out) || !regexpMatch(`(?m)^slot\s+([1-9][0-9]*)\s+0\s+\S+ \S+ \S+\s+[1-9][0-9]*$`, out) {
		t.Fatalf("deletions list: exit %d\n%s", code, out)
	}
	// A second poll holds them still.
	if code, _, _ := d.run("once"); code != exitHeld {
		t.Fatalf("second once while held: exit %d", code)
	}
	if n := len(d.events()); n != 0 {
		t.Fatalf("a second poll while held sent %d events", n)
	}

	if code, out, errs := d.run("deletions", "confirm", "appointment"); code != 0 || !strings.Contains(out, "appointment, slot") {
		t.Fatalf("deletions confirm appointment: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := d.run("once"); code != 0 {
		t.Fatalf("once after confirm: exit %d\n%s\n%s", code, out, errs)
	}
	deleted, freed := 0, 0
	for _, e := range d.events() {
		switch {
		case e.Entity == "appointment" && e.Op == "delete":
			deleted++
		case e.Entity == "slot" && busy[e.Key] && e.Data.Free != nil && *e.Data.Free:
			freed++
		}
	}
	// A slot that started since the first poll left the window: at most a few.
	if deleted == 0 || freed < len(busy)*9/10 {
		t.Fatalf("after confirm: %d appointment deletions, %d of %d busy slots freed", deleted, freed, len(busy))
	}
	if code, out, _ := d.run("deletions", "list"); code != 0 || !strings.Contains(out, "no held deletions") {
		t.Fatalf("deletions list after release: %d\n%s", code, out)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// TestOnceFailsWhenRowsAreSkipped is issue 9 hole 8: every patient card unreadable
// (no last name) made `once` exit 0. More than [mis] max_skipped_share of an entity's
// rows skipped exits 4; max_skipped_share = 1 turns the check off.
func TestOnceFailsWhenRowsAreSkipped(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			msk, _ := time.LoadLocation("Europe/Moscow")
			sizes := demo.Sizes{Branches: 1, Doctors: 2, Patients: 40, Appointments: 40, Days: 10, Today: time.Now().In(msk), Seed: 4}
			db, driver, dsn, _ := demo.TestMIS(t, dialect, sizes)
			if _, err := db.ExecContext(context.Background(), "UPDATE CLIENTS SET LASTNAME = NULL"); err != nil {
				t.Fatal(err)
			}
			d := newDemoCLI(t, driver, dsn, "")
			code, out, errs := d.run("once")
			if code != exitSkipped || !strings.Contains(errs, "patient: 40 of 40 rows skipped") || !strings.Contains(errs, "max_skipped_share = 0.1") {
				t.Fatalf("once with every patient skipped: exit %d (want %d)\n%s\n%s", code, exitSkipped, out, errs)
			}
			d = newDemoCLI(t, driver, dsn, "max_skipped_share = 1")
			if code, out, errs := d.run("once"); code != 0 {
				t.Fatalf("once with max_skipped_share = 1: exit %d\n%s\n%s", code, out, errs)
			}
		})
	}
}
