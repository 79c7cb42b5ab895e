package main

// End-to-end tests: real medsync instances (demo MISes in SQLite, the engine, the
// state store) publish through the nats connector into a real JetStream stream, and
// the hub rebuilds their state; the reference is a fresh full read of each MIS through
// the file connector.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"medsync/connectors/file"
	natsconn "medsync/connectors/nats"
	"medsync/connectors/nats/natstest"
	"medsync/mapping/demo"
	"medsync/service/app"
	"medsync/service/app/apptest"
)

func moscow() *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		return time.FixedZone("MSK", 3*3600)
	}
	return loc
}

func demoSizes(seed int64, appointments int) demo.Sizes {
	return demo.Sizes{Branches: 2, Doctors: 6, Patients: 400, Appointments: appointments, Days: 30, Today: time.Now().In(moscow()), Seed: seed}
}

// writeConfig writes a config.ini for the demo MIS at dsn with the given connector
// sections into dir and returns its path.
func writeConfig(t testing.TB, dir, dsn, connectorSections string) string {
	t.Helper()
	ini := fmt.Sprintf(`[service]
interval = 5
state_dir = state
timezone = Europe/Moscow

[mis]
driver = sqlite
dsn = %s
profile = demo
days_back = 30
days_ahead = 30

[guard]
max_delete_share = 0.5
min_delete_count = 5

[dispatch]
backoff_initial = 100ms
backoff_max = 300ms

%s`, dsn, connectorSections)
	p := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// natsSection is a [connector.nats] section; small batches make many delivery
// calls, so that kills and restarts land in the middle of a round.
func natsSection(url, stream, prefix, clinic string, batch int) string {
	return fmt.Sprintf("[connector.nats]\nurls = %s\nclinic = %s\nsubject_prefix = %s\nstream = %s\ncreate_stream = true\ntimeout = 3s\nbatch_size = %d\n\n",
		url, clinic, prefix, stream, batch)
}

const fileSection = "[connector.file]\npath = out/events.jsonl\nfsync = false\nbatch_size = 1000\n\n"

// fileState replays the file connector's output of a config into a state for clinic.
func fileState(t testing.TB, dir, clinic string) state {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "out", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := state{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ln file.Line
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			t.Fatal(err)
		}
		k := clinic + "|" + ln.Entity + "|" + ln.Key
		if ln.Op == "delete" {
			delete(out, k)
		} else {
			out[k] = string(ln.Data)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// freshRead is the current state of the MIS: a first poll by a new medsync with only
// the file connector.
func freshRead(t testing.TB, dsn, clinic string) state {
	t.Helper()
	dir := t.TempDir()
	apptest.Drain(t, writeConfig(t, dir, dsn, fileSection), 100)
	return fileState(t, dir, clinic)
}

// onceOnStream checks that the stream holds every event once: no message id twice,
// and no (clinic, idempotency key, detection time) twice.
func onceOnStream(t testing.TB, js jetstream.JetStream, stream string) int {
	t.Helper()
	msgs := natstest.Messages(t, js, stream)
	ids := map[string]uint64{}
	events := map[string]uint64{}
	for _, m := range msgs {
		id := m.Header.Get(jetstream.MsgIDHeader)
		if prev, dup := ids[id]; dup {
			t.Fatalf("Nats-Msg-Id %s is on the stream twice (messages %d and %d)", id, prev, m.Sequence)
		}
		ids[id] = m.Sequence
		var ln file.Line
		if err := json.Unmarshal(m.Data, &ln); err != nil {
			t.Fatal(err)
		}
		ev := m.Header.Get(natsconn.HeaderClinic) + "|" + ln.IdempotencyKey + "|" + ln.At
		if prev, dup := events[ev]; dup {
			t.Fatalf("event %s is on the stream twice (messages %d and %d)", ev, prev, m.Sequence)
		}
		events[ev] = m.Sequence
	}
	return len(msgs)
}

// TestMedsyncChild is not a test of its own: TestKillStorm runs the test binary again
// with MEDSYNC_NATS_CHILD set to a config path, and this process polls and delivers in
// a loop until it is killed.
func TestMedsyncChild(t *testing.T) { apptest.ChildLoop(t, "MEDSYNC_NATS_CHILD") }

func streamCount(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	return st.CachedInfo().State.Msgs
}

// mutate changes some appointments: cancels, restores, a hard delete.
func mutate(t testing.TB, db *sql.DB, r *rand.Rand, ids []int, cancelled map[int]bool) {
	t.Helper()
	ctx := context.Background()
	for range 150 {
		id := ids[r.IntN(len(ids))]
		var err error
		if cancelled[id] {
			err = demo.RestoreAppointment(ctx, db, demo.SQLite, id)
			delete(cancelled, id)
		} else {
			err = demo.CancelAppointment(ctx, db, demo.SQLite, id, 1)
			cancelled[id] = true
		}
		if err != nil && !errors.Is(err, demo.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if err := demo.DeleteAppointment(ctx, db, demo.SQLite, ids[r.IntN(len(ids))]); err != nil && !errors.Is(err, demo.ErrNotFound) {
		t.Fatal(err)
	}
}

func appointmentIDs(t testing.TB, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT SCHEDID FROM SCHEDULE ORDER BY SCHEDID`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestKillStorm kills medsync processes with SIGKILL at random points while they
// publish, changes the MIS between the kills, and restarts them; afterwards the
// stream holds every event exactly once and the hub's state equals the MIS.
func TestKillStorm(t *testing.T) {
	url := natstest.URL(t)
	stream, prefix := natstest.Names(t, url)
	js := natstest.JetStream(t, url)
	db, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demoSizes(7, 2000))
	cfgPath := writeConfig(t, t.TempDir(), dsn, natsSection(url, stream, prefix, "c1", 5))
	ids := appointmentIDs(t, db)
	r := rand.New(rand.NewPCG(7, 11))
	cancelled := map[int]bool{}
	midway := 0
	for round := range 8 {
		before := streamCount(t, js, stream)
		child := apptest.Start(t, "TestMedsyncChild", "MEDSYNC_NATS_CHILD", cfgPath)
		if round%2 == 0 {
			// Kill while this round is being published: once the stream has grown.
			for deadline := time.Now().Add(time.Minute); streamCount(t, js, stream) == before && time.Now().Before(deadline); {
				time.Sleep(2 * time.Millisecond)
			}
			time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		} else { // anywhere: reading the MIS, committing, publishing, idle
			time.Sleep(time.Duration(150+r.IntN(1200)) * time.Millisecond)
		}
		child.Kill(t)
		if streamCount(t, js, stream) > 0 && apptest.Queued(t, cfgPath)["nats"] > 0 {
			midway++
		}
		mutate(t, db, r, ids, cancelled)
	}
	if midway == 0 {
		t.Fatal("no kill hit a delivery in progress: the storm tested nothing")
	}
	apptest.Drain(t, cfgPath, 100)
	total := onceOnStream(t, js, stream)
	t.Logf("%d of 8 kills hit a delivery in progress; %d messages on the stream", midway, total)
	sameState(t, "after the kill storm", rebuild(t, nil, js, stream, "hub"), freshRead(t, dsn, "c1"))
}

// TestClinicsIntoOneStream: three medsync instances on three demo MISes (different
// seeds, the same catalogues of specialties and services) publish at once into one
// stream; the hub's state is the union of the three MISes.
func TestClinicsIntoOneStream(t *testing.T) {
	url := natstest.URL(t)
	stream, prefix := natstest.Names(t, url)
	js := natstest.JetStream(t, url)
	want := state{}
	var cfgs []string
	var dirs []string
	for i, clinic := range []string{"c1", "c2", "c3"} {
		_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demoSizes(int64(11+i), 600))
		dir := t.TempDir()
		cfgs = append(cfgs, writeConfig(t, dir, dsn, natsSection(url, stream, prefix, clinic, 25)+fileSection))
		dirs = append(dirs, dir)
	}
	var wg sync.WaitGroup
	for _, c := range cfgs {
		wg.Go(func() { apptest.Drain(t, c, 100) })
	}
	wg.Wait()
	for i, clinic := range []string{"c1", "c2", "c3"} {
		part := fileState(t, dirs[i], clinic)
		if len(part) == 0 {
			t.Fatalf("clinic %s sent nothing", clinic)
		}
		for k, v := range part {
			want[k] = v
		}
	}
	onceOnStream(t, js, stream)
	sameState(t, "three clinics", rebuild(t, nil, js, stream, "hub"), want)
}

// TestBrokerRestart restarts a private NATS server in the middle of a delivery round:
// nothing is lost and nothing is on the stream twice.
func TestBrokerRestart(t *testing.T) {
	srv := natstest.Start(t)
	stream, prefix := natstest.Names(t, srv.URL())
	_, _, dsn, _ := demo.TestMIS(t, demo.SQLite, demoSizes(21, 2000))
	cfgPath := writeConfig(t, t.TempDir(), dsn, natsSection(srv.URL(), stream, prefix, "c1", 25))
	js := natstest.JetStream(t, srv.URL())

	a := apptest.Open(t, cfgPath)
	done := make(chan *app.OnceResult, 1)
	go func() {
		r, err := a.Once(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for streamCount(t, js, stream) < 300 {
		if time.Now().After(deadline) {
			t.Fatal("the delivery round never got going")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Restart()
	r := <-done
	a.Close()
	if d := r.Delivered["nats"]; d.Retrying == 0 {
		t.Fatalf("the restart did not hit the delivery round (%+v): the test tested nothing", d)
	}
	apptest.Drain(t, cfgPath, 100)
	js = natstest.JetStream(t, srv.URL())
	onceOnStream(t, js, stream)
	sameState(t, "after the broker restart", rebuild(t, nil, js, stream, "hub"), freshRead(t, dsn, "c1"))
}
