// Package conformance is the test suite every connector's tests run, in the spirit of
// rclone's fstests.Run: it delivers realistic canonical records (upserts and deletes of
// each entity the connector takes), redelivers them, mixes in a broken record, cancels
// contexts and closes the connector, and checks the contract of connectors.Connector
// against what the connector's peer actually received.
//
// A connector test supplies a Harness: how to build a fresh connector wired to a fresh
// fake peer (an httptest server, a temporary folder…) and how to read back what that
// peer received, translated into canonical terms (entity, op, record key, idempotency
// key).
package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// Received is one event as the peer saw it.
type Received struct {
	Entity         string
	Op             string // connectors.OpUpsert or connectors.OpDelete
	Key            string
	IdempotencyKey string
}

// Instance is one connector wired to its own fake peer.
type Instance struct {
	Connector connectors.Connector
	// Received returns everything the peer has received so far, in arrival order.
	// A peer that drops exact duplicates itself may list a redelivered event once.
	Received func(t *testing.T) []Received
	// Stall, when set, makes the peer hang on every request until release is called;
	// the suite then checks that a context cancelled mid-delivery ends Deliver promptly.
	Stall func(t *testing.T) (release func())
}

// Harness describes the connector under test.
type Harness struct {
	// Entities the connector takes; empty means every mapping entity.
	Entities []string
	// New builds a fresh connector with a fresh peer; called once per subtest.
	New func(t *testing.T) *Instance
	// Unsent, when set, reports events the connector acknowledges without sending
	// anything to the peer (say, a delete the peer has no call for).
	Unsent func(ev connectors.Event) bool
	// Connector is the name used in idempotency keys; default "conformance".
	Connector string
}

// Prompt is how long Deliver may take to notice a cancelled context, and Close to return.
const Prompt = 3 * time.Second

// Run runs the suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: Harness.New is required")
	}
	if len(h.Entities) == 0 {
		h.Entities = mapping.Entities
	}
	if h.Connector == "" {
		h.Connector = "conformance"
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, Moscow())
	upserts := Events(h.Connector, connectors.OpUpsert, Records(), h.Entities, at)
	deletes := Events(h.Connector, connectors.OpDelete, Records(), h.Entities, at.Add(time.Minute))

	t.Run("EmptyBatch", func(t *testing.T) {
		in := h.New(t)
		for _, b := range [][]connectors.Event{nil, {}} {
			if errs := deliver(t, in, context.Background(), b); len(errs) != 0 {
				t.Fatalf("empty batch: got %d results, want 0", len(errs))
			}
		}
		if got := in.Received(t); len(got) != 0 {
			t.Fatalf("empty batch: peer received %d events: %+v", len(got), got)
		}
	})

	t.Run("UpsertAndDelete", func(t *testing.T) {
		in := h.New(t)
		for _, batch := range [][]connectors.Event{upserts, deletes} {
			errs := deliver(t, in, context.Background(), batch)
			mustAllNil(t, batch, errs)
		}
		h.checkReceived(t, in.Received(t), append(slices.Clone(upserts), deletes...))
	})

	t.Run("EntityAtATime", func(t *testing.T) {
		in := h.New(t)
		var sent []connectors.Event
		for i := range upserts {
			for _, batch := range [][]connectors.Event{{upserts[i]}, {deletes[i]}} {
				mustAllNil(t, batch, deliver(t, in, context.Background(), batch))
				sent = append(sent, batch...)
			}
		}
		h.checkReceived(t, in.Received(t), sent)
	})

	t.Run("Redelivery", func(t *testing.T) {
		in := h.New(t)
		mustAllNil(t, upserts, deliver(t, in, context.Background(), upserts))
		again := slices.Clone(upserts)
		for i := range again {
			again[i].Attempt = 2
		}
		errs := deliver(t, in, context.Background(), again)
		for i, err := range errs {
			if err != nil {
				t.Errorf("redelivered %s %s (same idempotency key) was refused: %v; a resend after a crash must be accepted", again[i].Entity, again[i].Key, err)
			}
		}
		got := in.Received(t)
		h.checkReceived(t, got, upserts)
		// Every copy the peer saw must carry the key unchanged, so it can tell duplicates.
		byKey := map[string]connectors.Event{}
		for _, ev := range upserts {
			byKey[ev.IdempotencyKey] = ev
		}
		for _, r := range got {
			ev, ok := byKey[r.IdempotencyKey]
			if !ok {
				t.Errorf("peer received idempotency key %q that was never sent (%s %s)", r.IdempotencyKey, r.Entity, r.Key)
				continue
			}
			if r.Entity != ev.Entity || r.Key != ev.Key || r.Op != ev.Op {
				t.Errorf("idempotency key %q arrived as %s %s %s, sent as %s %s %s", r.IdempotencyKey, r.Entity, r.Op, r.Key, ev.Entity, ev.Op, ev.Key)
			}
		}
	})

	t.Run("BadRecordDoesNotBlockOthers", func(t *testing.T) {
		in := h.New(t)
		bad := upserts[0]
		bad.Key = "broken-1"
		bad.Data = json.RawMessage(`{"id":"broken-1","name":`)
		bad.Fingerprint = fingerprint(bad.Data)
		bad.IdempotencyKey = idempotencyKey(h.Connector, bad.Entity, bad.Key, bad.Fingerprint)
		batch := []connectors.Event{upserts[len(upserts)-1], bad, deletes[0]}
		errs := deliver(t, in, context.Background(), batch)
		if errs[1] == nil || !connectors.IsPermanent(errs[1]) {
			t.Errorf("event with data that is not JSON: got %v, want a permanent error", errs[1])
		} else if errs[1].Error() == "" {
			t.Errorf("permanent error for %s %s has no reason", bad.Entity, bad.Key)
		}
		for _, i := range []int{0, 2} {
			if errs[i] != nil {
				t.Errorf("%s %s %s failed next to a broken record: %v", batch[i].Op, batch[i].Entity, batch[i].Key, errs[i])
			}
		}
		got := in.Received(t)
		for _, r := range got {
			if r.Key == bad.Key {
				t.Errorf("peer received the broken record %s %s", r.Entity, r.Key)
			}
		}
		h.checkReceived(t, got, []connectors.Event{batch[0], batch[2]})
	})

	t.Run("CancelledContext", func(t *testing.T) {
		in := h.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		errs := deliver(t, in, ctx, upserts)
		if d := time.Since(start); d > Prompt {
			t.Errorf("Deliver with a cancelled context took %s, want under %s", d, Prompt)
		}
		h.checkUndelivered(t, in, upserts, errs)
	})

	t.Run("CancelWhileStalled", func(t *testing.T) {
		in := h.New(t)
		if in.Stall == nil {
			t.Skip("the harness cannot stall its peer")
		}
		release := in.Stall(t)
		t.Cleanup(release)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		errs := deliver(t, in, ctx, upserts)
		if d := time.Since(start); d > Prompt {
			t.Errorf("Deliver to a hanging peer took %s after its context ended, want under %s", d, Prompt)
		}
		h.checkUndelivered(t, in, upserts, errs)
	})

	t.Run("Close", func(t *testing.T) {
		in := h.New(t)
		mustAllNil(t, upserts[:1], deliver(t, in, context.Background(), upserts[:1]))
		done := make(chan error, 1)
		go func() { done <- in.Connector.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(Prompt):
			t.Errorf("Close did not return within %s", Prompt)
		}
	})
}

// deliver calls Deliver with a deadline and checks the result length.
func deliver(t *testing.T, in *Instance, ctx context.Context, batch []connectors.Event) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errs := in.Connector.Deliver(ctx, batch)
	if len(errs) != len(batch) {
		t.Fatalf("Deliver returned %d results for %d events; it must return one per event", len(errs), len(batch))
	}
	return errs
}

func mustAllNil(t *testing.T, batch []connectors.Event, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s %s %s: %v", batch[i].Op, batch[i].Entity, batch[i].Key, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// checkReceived checks that every sent event the peer should see arrived with its
// entity, op, key and idempotency key intact.
func (h Harness) checkReceived(t *testing.T, got []Received, sent []connectors.Event) {
	t.Helper()
	for _, ev := range sent {
		if h.Unsent != nil && h.Unsent(ev) {
			continue
		}
		want := Received{Entity: ev.Entity, Op: ev.Op, Key: ev.Key, IdempotencyKey: ev.IdempotencyKey}
		if !slices.Contains(got, want) {
			t.Errorf("peer did not receive %+v", want)
		}
	}
}

// checkUndelivered checks results after the context ended: an event may be
// acknowledged only if the peer has it; every other one carries an error that is not
// permanent (a cancelled poll must not dead-letter records).
func (h Harness) checkUndelivered(t *testing.T, in *Instance, batch []connectors.Event, errs []error) {
	t.Helper()
	got := in.Received(t)
	for i, ev := range batch {
		if errs[i] == nil {
			if h.Unsent == nil || !h.Unsent(ev) {
				h.checkReceived(t, got, batch[i:i+1])
			}
			continue
		}
		if connectors.IsPermanent(errs[i]) {
			t.Errorf("%s %s: a cancelled context gave a permanent error (%v); it must be retried later", ev.Entity, ev.Key, errs[i])
		}
	}
	nilCount := 0
	for _, err := range errs {
		if err == nil {
			nilCount++
		}
	}
	if nilCount == len(errs) && len(got) == 0 {
		t.Errorf("every event was acknowledged after the context ended but the peer received nothing")
	}
}

// Moscow returns Europe/Moscow.
func Moscow() *time.Location {
	loc, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		return time.FixedZone("MSK", 3*3600)
	}
	return loc
}

// Records returns one realistic canonical record of every entity, in mapping.Entities
// order, all linked to each other (doctor → branch, specialty; slot → shift; …).
func Records() []mapping.Record {
	msk := Moscow()
	day := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, msk) }
	bs, be := day(13, 0), day(13, 30)
	return []mapping.Record{
		&mapping.Branch{ID: "1", Name: "Клиника «Здоровье» на Ленина", Address: "г. Тула, ул. Ленина, д. 12", Phone: "+74872555010", TimeZone: "Europe/Moscow", MOOID: "1.2.643.5.1.13.13.12.2.71.7101.0.123456"},
		&mapping.Specialty{ID: "27", Name: "Терапевт", Code: "76"},
		&mapping.Doctor{ID: "1043", BranchID: "1", SpecialtyID: "27", LastName: "Иванова", FirstName: "Мария", MiddleName: "Петровна", SNILS: "11223344595", OnlineBooking: true, SlotMinutes: 20},
		&mapping.Service{ID: "A01.001", Name: "Приём врача-терапевта первичный", Code: "B01.047.001", SpecialtyID: "27", PriceKopecks: mapping.Kopecks(180000), DurationMinutes: 20, Mode: mapping.ModeClinic, OnlineBooking: true},
		&mapping.Patient{ID: "P-77001", CardNumber: "2026/0451", LastName: "Смирнов", FirstName: "Алексей", MiddleName: "Игоревич", BirthDate: "1984-03-09", Sex: "M", Phone: "+79161234567", Email: "a.smirnov@example.ru", SNILS: "11223344595", OMS: "7151230000123456", ConsentSMS: true},
		&mapping.Shift{ID: "SH-5501", DoctorID: "1043", BranchID: "1", Start: day(9, 0), End: day(15, 0), BreakStart: &bs, BreakEnd: &be, Room: "214", SlotMinutes: 20},
		&mapping.Appointment{ID: "AP-900113", PatientID: "P-77001", DoctorID: "1043", BranchID: "1", Start: day(9, 40), End: day(10, 0), Status: mapping.StatusBooked, Source: mapping.SourcePhone, ServiceIDs: []string{"A01.001"}, Room: "214", Comment: "просит перезвонить накануне"},
		&mapping.Slot{ID: "6f1c2a9e-4b7d-5c3e-8a10-2f9d4e6b7c81", DoctorID: "1043", BranchID: "1", ShiftID: "SH-5501", Start: day(10, 0), End: day(10, 20), Free: true, Room: "214"},
	}
}

// Events builds one event per record whose entity is in entities, as the engine would:
// data is the record's JSON, the fingerprint its SHA-256, the idempotency key derived
// from connector, entity, key and fingerprint. Deletes carry no data.
func Events(connector, op string, recs []mapping.Record, entities []string, at time.Time) []connectors.Event {
	var out []connectors.Event
	for _, r := range recs {
		if !slices.Contains(entities, r.EntityName()) {
			continue
		}
		ev := connectors.Event{Entity: r.EntityName(), Op: op, Key: r.RecordKey(), At: at, Attempt: 1}
		if op == connectors.OpUpsert {
			data, err := json.Marshal(r)
			if err != nil {
				panic(fmt.Sprintf("conformance: marshal %T: %v", r, err))
			}
			ev.Data = data
			ev.Fingerprint = fingerprint(data)
		} else {
			ev.Fingerprint = fingerprint(nil)
		}
		ev.IdempotencyKey = idempotencyKey(connector, ev.Entity, ev.Key, ev.Op+":"+ev.Fingerprint)
		out = append(out, ev)
	}
	return out
}

func fingerprint(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func idempotencyKey(connector, entity, key, fp string) string {
	s := sha256.Sum256([]byte(connector + "\x00" + entity + "\x00" + key + "\x00" + fp))
	return hex.EncodeToString(s[:16])
}
