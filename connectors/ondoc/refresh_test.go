package ondoc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/connectors/file"
	"medsync/mapping"
	"medsync/mapping/demo"
	"medsync/service/engine"
	statestore "medsync/service/store"
)

// slotStates reads the file connector's output: slot id → free, last event wins.
func slotStates(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fh, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Entity string       `json:"entity"`
			Op     string       `json:"op"`
			Data   mapping.Slot `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("file output: %v: %s", err, sc.Bytes())
		}
		if ev.Entity == mapping.EntitySlot && ev.Op == connectors.OpUpsert {
			out[ev.Data.ID] = ev.Data.Free
		}
	}
	return out
}

// Issue 10 item 6 / invariant 11: a booking taken from ONDOC's feed makes the slot
// busy for every other connector (here the file connector) at once, through the
// engine's differ and outbox, without waiting for a poll; the next poll then finds no
// change for it.
func TestBookingReachesOtherConnectorsWithoutAPoll(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := newMIS(t, demo.SQLite)
	f := newFake(t)
	c := newConn(t, f, nil)
	msk, _ := time.LoadLocation("Europe/Moscow")
	now := time.Date(2027, 12, 14, 8, 0, 0, 0, msk)
	clock := func() time.Time { return now }
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	src := mapping.NewSource(m.db, demo.SQLite, p, mapping.SourceOptions{Zone: msk, Now: clock})
	dir := t.TempDir()
	st, err := statestore.Open(ctx, filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := filepath.Join(dir, "events.jsonl")
	fc, err := file.New(connectors.Env{BaseDir: dir}, connectors.NewValues("config.ini", "connector.file", map[string]string{"path": out, "fsync": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{
		Reader: src, Store: st, MIS: mapping.NewWriter(m.db, demo.SQLite, p), Zone: msk, DaysBack: 0, DaysAhead: 3, Now: clock,
		Targets: []*engine.Target{
			{Name: "ondoc", Conn: c, Keeps: []string{mapping.EntityBranch, mapping.EntitySlot}},
			{Name: "file", Conn: fc, Entities: []string{mapping.EntitySlot, mapping.EntityAppointment}},
		},
		StateDir: dir, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := eng.Poll(ctx); !s.OK() {
		t.Fatal(s.Err())
	}
	if _, err := eng.DeliverAll(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2027, 12, 15, 9, 40, 0, 0, msk) // the doctor's slots are 40 minutes
	slotID := mapping.SlotID(fmt.Sprint(m.doctor), at)
	if free, ok := slotStates(t, out)[slotID]; !ok || !free {
		t.Fatalf("before the booking the file connector should have the 09:40 slot free: %v %v", free, ok)
	}

	go eng.Dispatch(ctx) // delivers whenever it is woken
	f.addEvents(bookingEv("e2e-1", m.doctor, m.patient, m.service, at, 40))
	if err := eng.RunConnectors(ctx); err != nil { // ONDOC's Run: the feed, not a poll
		t.Fatal(err)
	}
	if a := f.gotAnswers(); len(a) != 1 || a[0].Result != answerConfirmed {
		t.Fatalf("ONDOC answers: %+v", a)
	}
	deadline := time.Now().Add(10 * time.Second)
	for slotStates(t, out)[slotID] {
		if time.Now().After(deadline) {
			t.Fatal("the booked slot did not reach the file connector as busy without a poll")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sum := eng.Poll(ctx)
	for _, es := range sum.Entities {
		if (es.Entity == mapping.EntitySlot || es.Entity == mapping.EntityAppointment) && es.Upserts+es.Deletes != 0 {
			t.Errorf("the poll after the refresh found %d upserts, %d deletes of %s, want none", es.Upserts, es.Deletes, es.Entity)
		}
	}
}
