package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/service/store"
)

// memReader is an in-memory MIS for the differ's unit tests. The same pipeline runs
// against real database servers in the integration tests (pipeline_test.go).
type memReader struct {
	mu       sync.Mutex
	recs     map[string]map[string]mapping.Item
	vers     map[string]map[string]string
	versions map[string]bool
	// rowVersions: full reads carry each row's version (ReadAll, ReadKeys)
	rowVersions map[string]bool
	fail        map[string]error
	skips       map[string][]mapping.Skip
	windowed    map[string]bool
	calls       map[string]int
}

func newMem() *memReader {
	return &memReader{recs: map[string]map[string]mapping.Item{}, vers: map[string]map[string]string{}, rowVersions: map[string]bool{}, versions: map[string]bool{}, fail: map[string]error{},
		skips: map[string][]mapping.Skip{}, windowed: map[string]bool{mapping.EntityAppointment: true, mapping.EntitySlot: true, mapping.EntityShift: true},
		calls: map[string]int{}}
}

func (m *memReader) put(r mapping.Record, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := r.EntityName()
	if m.recs[e] == nil {
		m.recs[e] = map[string]mapping.Item{}
		m.vers[e] = map[string]string{}
	}
	m.recs[e][r.RecordKey()] = mapping.Item{Record: r}
	m.vers[e][r.RecordKey()] = version
}

// token is a record's version token ("NULL" stands for a NULL version); m.mu held.
func (m *memReader) token(entity, key string) uint64 {
	v := m.vers[entity][key]
	if v == "NULL" {
		return mapping.VersionToken(nil)
	}
	return mapping.VersionToken(v)
}

func (m *memReader) del(entity, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs[entity], key)
}

func (m *memReader) Has(entity string) bool         { return true }
func (m *memReader) Windowed(entity string) bool    { return m.windowed[entity] }
func (m *memReader) HasVersions(entity string) bool { return m.versions[entity] }
func (m *memReader) RowVersions(entity string) bool { return m.rowVersions[entity] }

func (m *memReader) sorted(entity string, w mapping.Window, all bool) []mapping.Item {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.recs[entity] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []mapping.Item
	for _, k := range keys {
		it := m.recs[entity][k]
		if wr, ok := it.Record.(mapping.Windowed); ok && !all && m.windowed[entity] && !w.Contains(wr.WindowDay()) {
			continue
		}
		if m.rowVersions[entity] {
			it.Version = m.token(entity, k)
		}
		out = append(out, it)
	}
	return out
}

func (m *memReader) ScanVersions(ctx context.Context, entity string, w mapping.Window, fn func(key []byte, version uint64) error) error {
	m.calls[entity+".versions"]++
	if err := m.fail[entity]; err != nil {
		return err
	}
	for _, it := range m.sorted(entity, w, false) {
		m.mu.Lock()
		tok := m.token(entity, it.Record.RecordKey())
		m.mu.Unlock()
		if err := fn([]byte(it.Record.RecordKey()), tok); err != nil {
			return err
		}
	}
	return nil
}

func (m *memReader) ReadAll(ctx context.Context, entity string, w mapping.Window, fn func(mapping.Item) error, skip func(mapping.Skip)) error {
	m.calls[entity+".rows"]++
	for _, s := range m.skips[entity] {
		skip(s)
	}
	for i, it := range m.sorted(entity, w, false) {
		if err := m.fail[entity]; err != nil && i > 0 {
			return err // fails half-way: partial reads must not delete
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return m.fail[entity]
}

func (m *memReader) ReadKeys(ctx context.Context, entity string, keys []string, fn func(mapping.Item) error, skip func(mapping.Skip)) error {
	m.calls[entity+".by_keys"]++
	if err := m.fail[entity]; err != nil {
		return err
	}
	m.mu.Lock()
	var items []mapping.Item
	for _, k := range keys {
		if it, ok := m.recs[entity][k]; ok {
			if m.rowVersions[entity] {
				it.Version = m.token(entity, k)
			}
			items = append(items, it)
		}
	}
	m.mu.Unlock()
	for _, it := range items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// recorder is a connector that records what it got and fails on demand.
type recorder struct {
	mu     sync.Mutex
	got    []connectors.Event
	failFn func(ev connectors.Event) error
}

func (r *recorder) Deliver(ctx context.Context, batch []connectors.Event) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := make([]error, len(batch))
	for i, ev := range batch {
		if r.failFn != nil {
			if err := r.failFn(ev); err != nil {
				errs[i] = err
				continue
			}
		}
		r.got = append(r.got, ev)
	}
	return errs
}
func (r *recorder) Close() error { return nil }
func (r *recorder) events() []connectors.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]connectors.Event(nil), r.got...)
}
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = nil
}

var msk = time.FixedZone("MSK", 3*3600)

type fixture struct {
	t     *testing.T
	mem   *memReader
	st    *store.Store
	rec   *recorder
	eng   *Engine
	now   time.Time
	hooks Hooks
}

func newFixture(t *testing.T, entities ...string) *fixture {
	t.Helper()
	f := &fixture{t: t, mem: newMem(), rec: &recorder{}, now: time.Date(2026, 3, 10, 9, 0, 0, 0, msk)}
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if len(entities) == 0 {
		entities = []string{mapping.EntityDoctor, mapping.EntityAppointment}
	}
	f.eng, err = New(Options{
		Reader: f.mem, Store: st, Zone: msk, DaysBack: 1, DaysAhead: 14,
		Targets: []*Target{{Name: "rec", Conn: f.rec, Entities: entities, BatchSize: 7}},
		Guard:   Guard{MaxShare: 0.5, MinCount: 3},
		Backoff: Backoff{Initial: time.Second, Max: time.Minute},
		Now:     func() time.Time { return f.now },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hooks:   Hooks{AfterRead: func(e string) { call(f.hooks.AfterRead, e) }, AfterCommit: func(e string) { call(f.hooks.AfterCommit, e) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func call(fn func(string), e string) {
	if fn != nil {
		fn(e)
	}
}

func (f *fixture) poll() *PollSummary {
	f.t.Helper()
	s := f.eng.Poll(context.Background())
	return s
}

func (f *fixture) deliver() DeliverResult {
	f.t.Helper()
	r, err := f.eng.DeliverAll(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return r["rec"]
}

func (f *fixture) queued() int {
	q, err := f.st.Queues(context.Background(), []string{"rec"})
	if err != nil {
		f.t.Fatal(err)
	}
	return q[0].Queued
}

func doctor(id, last string) *mapping.Doctor {
	return &mapping.Doctor{ID: id, BranchID: "1", SpecialtyID: "1", LastName: last, FirstName: "Анна", OnlineBooking: true, SlotMinutes: 30}
}

func appt(id string, start time.Time, status string) *mapping.Appointment {
	return &mapping.Appointment{ID: id, DoctorID: "1", BranchID: "1", PatientID: "p" + id, Start: start, End: start.Add(30 * time.Minute), Status: status, Source: mapping.SourceRegistry}
}

func ops(evs []connectors.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Entity+":"+e.Op+":"+e.Key)
	}
	sort.Strings(out)
	return out
}

func eq(t *testing.T, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events:\n got  %v\n want %v", got, want)
	}
}

func TestCreateEditDeleteAndUnchanged(t *testing.T) {
	f := newFixture(t)
	f.mem.put(doctor("1", "Иванова"), "")
	f.mem.put(doctor("2", "Петрова"), "")
	f.mem.put(appt("10", f.now.Add(24*time.Hour), mapping.StatusBooked), "")
	if s := f.poll(); !s.OK() {
		t.Fatal(s.Err())
	}
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:10", "doctor:upsert:1", "doctor:upsert:2"})

	// Unchanged: nothing queued, nothing delivered.
	f.rec.reset()
	f.poll()
	if n := f.queued(); n != 0 {
		t.Fatalf("unchanged poll queued %d events", n)
	}
	f.deliver()
	eq(t, ops(f.rec.events()), nil)

	// Edit, soft-cancel, hard delete.
	f.rec.reset()
	f.mem.put(doctor("1", "Иванова-Смирнова"), "")
	a := appt("10", f.now.Add(24*time.Hour), mapping.StatusCancelled)
	a.CancelReason = "Пациент отменил запись"
	f.mem.put(a, "")
	f.mem.del(mapping.EntityDoctor, "2")
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:10", "doctor:delete:2", "doctor:upsert:1"})
	for _, ev := range f.rec.events() {
		if ev.Op == connectors.OpDelete && len(ev.Data) != 0 {
			t.Errorf("delete carries data: %s", ev.Data)
		}
		if ev.Op == connectors.OpUpsert && len(ev.Data) == 0 {
			t.Errorf("upsert without data: %+v", ev)
		}
		if _, off := ev.At.Zone(); off != 3*3600 {
			t.Errorf("event time %v is not in the service zone", ev.At)
		}
	}

	// Restore: the record comes back and is sent again.
	f.rec.reset()
	f.mem.put(doctor("2", "Петрова"), "")
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"doctor:upsert:2"})
}

func TestFailedOrPartialReadNeverDeletes(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	for i := 1; i <= 5; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()
	f.deliver()
	f.rec.reset()
	f.mem.fail[mapping.EntityDoctor] = errors.New("connection reset")
	s := f.poll()
	if s.OK() {
		t.Fatal("poll with a failing read reported OK")
	}
	if f.queued() != 0 {
		t.Fatal("a failed read queued events")
	}
	n, _ := f.st.SnapshotCount(context.Background(), mapping.EntityDoctor)
	if n != 5 {
		t.Fatalf("snapshot lost records after a failed read: %d", n)
	}
}

func TestUnkeyedSkipPostponesDeletions(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	for i := 1; i <= 5; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()
	f.mem.del(mapping.EntityDoctor, "5")
	f.mem.skips[mapping.EntityDoctor] = []mapping.Skip{{Entity: "doctor", Row: 3, Problem: "id: NULL"}}
	s := f.poll()
	if s.Entities[0].Deletes != 0 || s.Entities[0].Skipped != 1 {
		t.Fatalf("summary %+v", s.Entities[0])
	}
	// A keyed skip keeps the record (unreadable is not deleted) but others may go.
	f.mem.skips[mapping.EntityDoctor] = []mapping.Skip{{Entity: "doctor", Key: "4", Row: 3, Problem: "snils: checksum"}}
	f.mem.del(mapping.EntityDoctor, "4")
	s = f.poll()
	if s.Entities[0].Deletes != 1 {
		t.Fatalf("want only doctor 5 deleted, summary %+v", s.Entities[0])
	}
}

func TestMassDisappearanceGuard(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	for i := 1; i <= 10; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()
	f.deliver()
	f.rec.reset()
	for i := 1; i <= 8; i++ { // 8 of 10 > max(3, 0.5×10)
		f.mem.del(mapping.EntityDoctor, fmt.Sprint(i))
	}
	s := f.poll()
	if s.Entities[0].Held != 8 || s.Entities[0].Deletes != 0 {
		t.Fatalf("summary %+v", s.Entities[0])
	}
	held, _ := f.st.HeldDeletions(context.Background())
	if len(held) != 8 {
		t.Fatalf("held %d", len(held))
	}
	// Still held on the next poll; nothing sent.
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), nil)
	// One comes back; an operator confirms; the rest are deleted.
	f.mem.put(doctor("1", "Врач"), "")
	if _, err := f.st.ConfirmHeld(context.Background(), mapping.EntityDoctor); err != nil {
		t.Fatal(err)
	}
	s = f.poll()
	f.deliver()
	if s.Entities[0].Deletes != 7 {
		t.Fatalf("after confirm: %+v", s.Entities[0])
	}
	held, _ = f.st.HeldDeletions(context.Background())
	if len(held) != 0 {
		t.Fatalf("held after release: %v", held)
	}
	// A small deletion below the limit passes without confirmation.
	f.rec.reset()
	f.mem.del(mapping.EntityDoctor, "9")
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"doctor:delete:9"})
}

func TestWindow(t *testing.T) {
	f := newFixture(t, mapping.EntityAppointment)
	tomorrow := f.now.Add(24 * time.Hour)
	f.mem.put(appt("1", tomorrow, mapping.StatusBooked), "")
	f.mem.put(appt("2", tomorrow, mapping.StatusBooked), "")
	f.mem.put(appt("3", f.now.Add(-36*time.Hour), mapping.StatusBooked), "") // before the window
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:1", "appointment:upsert:2"})
	f.rec.reset()

	// Appointment 2 is moved two months ahead (out of the window): not a delete.
	f.mem.put(appt("2", f.now.AddDate(0, 2, 0), mapping.StatusBooked), "")
	s := f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:2"})
	if s.Entities[0].LeftWindow != 1 {
		t.Fatalf("summary %+v", s.Entities[0])
	}
	f.rec.reset()

	// Time passes: appointment 1 falls behind the window: dropped silently.
	f.now = f.now.Add(4 * 24 * time.Hour)
	s = f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), nil)
	if s.Entities[0].LeftWindow != 1 {
		t.Fatalf("summary %+v", s.Entities[0])
	}
	n, _ := f.st.SnapshotCount(context.Background(), mapping.EntityAppointment)
	if n != 0 {
		t.Fatalf("snapshot keeps %d records outside the window", n)
	}
}

func TestVersionsPath(t *testing.T) {
	f := newFixture(t, mapping.EntityAppointment)
	f.mem.versions[mapping.EntityAppointment] = true
	d := f.now.Add(24 * time.Hour)
	for i := 1; i <= 20; i++ {
		f.mem.put(appt(fmt.Sprint(i), d, mapping.StatusBooked), "v1")
	}
	f.poll() // first poll reads in full
	if f.mem.calls["appointment.rows"] != 1 {
		t.Fatalf("calls %v", f.mem.calls)
	}
	f.deliver()
	f.rec.reset()
	f.poll()                                                                                 // unchanged: versions only
	if f.mem.calls["appointment.versions"] != 2 || f.mem.calls["appointment.by_keys"] != 0 { // one with the first full read
		t.Fatalf("unchanged poll fetched rows: %v", f.mem.calls)
	}
	a := appt("7", d, mapping.StatusCancelled)
	f.mem.put(a, "v2")
	f.mem.put(appt("8", d, mapping.StatusBooked), "v2") // version moved, content did not
	s := f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:7"})
	if s.Entities[0].Mode != "versions" || s.Entities[0].Upserts != 1 {
		t.Fatalf("summary %+v", s.Entities[0])
	}
	f.mem.calls = map[string]int{}
	f.poll()
	if f.mem.calls["appointment.by_keys"] != 0 {
		t.Fatalf("version-only change refetched: %v", f.mem.calls)
	}
}

func TestCoalescingAndInFlightReplacement(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.put(doctor("1", "А"), "")
	f.poll()
	f.mem.put(doctor("1", "Б"), "")
	f.poll()
	if f.queued() != 1 {
		t.Fatalf("two changes before delivery queued %d events, want 1", f.queued())
	}
	f.deliver()
	evs := f.rec.events()
	if len(evs) != 1 || !contains(string(evs[0].Data), "Б") {
		t.Fatalf("delivered %v", evs)
	}

	// A change committed while the previous event is in flight must survive the ack.
	f.rec.reset()
	f.mem.put(doctor("1", "В"), "")
	f.poll()
	f.rec.failFn = func(ev connectors.Event) error {
		f.rec.failFn = nil
		f.rec.mu.Unlock()
		f.mem.put(doctor("1", "Г"), "")
		f.poll()
		f.rec.mu.Lock()
		return nil
	}
	f.deliver()
	evs = f.rec.events()
	if len(evs) != 2 || !contains(string(evs[0].Data), "В") || !contains(string(evs[1].Data), "Г") {
		t.Fatalf("the newer event was lost with the in-flight ack, or order broke: %v", evs)
	}
	if f.queued() != 0 {
		t.Fatalf("queued %d after delivery", f.queued())
	}
}

func contains(s, sub string) bool {
	return len(s) >= len(sub) && (s == sub || len(sub) == 0 || indexOf(s, sub) >= 0)
}
func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestRetryBackoffDeadLetterAndReplay(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	for i := 1; i <= 3; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()
	f.rec.failFn = func(ev connectors.Event) error {
		switch ev.Key {
		case "1":
			return connectors.Transient(errors.New("503 from peer"), 90*time.Second)
		case "2":
			return connectors.Permanent("doctor 2: field snils rejected by the peer", nil)
		}
		return nil
	}
	r := f.deliver()
	if r.Delivered != 1 || r.Retrying != 1 || r.DeadLettered != 1 {
		t.Fatalf("result %+v", r)
	}
	// Not due yet: Retry-After (90 s) beats the backoff (≤ 1 s).
	f.now = f.now.Add(60 * time.Second)
	if r := f.deliver(); r.Delivered+r.Retrying != 0 {
		t.Fatalf("retried before Retry-After: %+v", r)
	}
	f.now = f.now.Add(31 * time.Second)
	f.rec.failFn = nil
	if r := f.deliver(); r.Delivered != 1 {
		t.Fatalf("after Retry-After: %+v", r)
	}
	dl, _ := f.st.DeadLetters(context.Background(), "")
	if len(dl) != 1 || dl[0].Key != "2" || !contains(dl[0].Reason, "snils") {
		t.Fatalf("dead letters %+v", dl)
	}
	rr, err := f.st.Replay(context.Background(), "rec", nil)
	if err != nil || rr.Requeued != 1 {
		t.Fatalf("replay %+v %v", rr, err)
	}
	f.rec.reset()
	if r := f.deliver(); r.Delivered != 1 {
		t.Fatalf("after replay: %+v", r)
	}
	// The replayed event carries its original idempotency key.
	if got := f.rec.events()[0].IdempotencyKey; got != IdempotencyKey("rec", "doctor", "2", "upsert", f.rec.events()[0].Fingerprint) {
		t.Fatalf("replayed key %s", got)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 30 * time.Second}
	for attempt, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 40: 30 * time.Second} {
		for i := 0; i < 50; i++ {
			d := backoffDelay(b, attempt)
			if d < max/2 || d > max {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, max/2, max)
			}
		}
	}
}

func TestIdempotencyKeyStable(t *testing.T) {
	// Keys outlive versions (an outbox written by an older medsync is sent by a newer
	// one, and peers deduplicate by them): these values must never change.
	for _, g := range []struct{ got, want string }{
		{IdempotencyKey("ondoc", "appointment", "10", "upsert", "00000000000000ff"), "7ca0b81daad8f3f1371e825022b9422c"},
		{IdempotencyKey("", "", "Ёж\x00", "delete", ""), "7bbd49fd59520426f32b794840e7e04f"},
		{fpHex(0xff), "00000000000000ff"},
		{fpHex(0xfedcba9876543210), "fedcba9876543210"},
	} {
		if g.got != g.want {
			t.Errorf("got %s, want %s", g.got, g.want)
		}
	}
	a := IdempotencyKey("ondoc", "appointment", "10", "upsert", "00000000000000ff")
	if a != IdempotencyKey("ondoc", "appointment", "10", "upsert", "00000000000000ff") {
		t.Fatal("not deterministic")
	}
	for _, other := range []string{
		IdempotencyKey("file", "appointment", "10", "upsert", "00000000000000ff"),
		IdempotencyKey("ondoc", "appointment", "10", "delete", "00000000000000ff"),
		IdempotencyKey("ondoc", "appointment", "1", "0upsert", "00000000000000ff"),
		IdempotencyKey("ondoc", "appointment", "10", "upsert", "00000000000000fe"),
	} {
		if other == a {
			t.Fatal("different events share a key")
		}
	}
}

func TestPerRecordOrderAcrossRetries(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.put(doctor("1", "А"), "")
	f.poll()
	f.rec.failFn = func(ev connectors.Event) error { return errors.New("timeout") }
	f.deliver()
	// While the old version waits for a retry, the record changes twice more.
	f.mem.put(doctor("1", "Б"), "")
	f.poll()
	f.mem.put(doctor("1", "В"), "")
	f.poll()
	f.rec.failFn = nil
	f.now = f.now.Add(time.Hour)
	f.deliver()
	evs := f.rec.events()
	if len(evs) != 1 || !contains(string(evs[0].Data), "В") {
		t.Fatalf("want only the newest state delivered, got %v", evs)
	}
}

// TestNewConnectorGetsCurrentState adds a connector to an installation that has been
// syncing for a while: it receives every current record once; the old one nothing.
func TestNewConnectorGetsCurrentState(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor, mapping.EntityAppointment)
	f.mem.versions[mapping.EntityAppointment] = true
	f.mem.put(doctor("1", "Иванова"), "")
	f.mem.put(doctor("2", "Петрова"), "")
	f.mem.put(appt("10", f.now.Add(24*time.Hour), mapping.StatusBooked), "v1")
	f.poll()
	f.deliver()
	f.poll()
	f.rec.reset()

	late := &recorder{}
	f.eng.o.Targets = append(f.eng.o.Targets, &Target{Name: "late", Conn: late, Entities: []string{mapping.EntityDoctor, mapping.EntityAppointment}, BatchSize: 10})
	f.eng.wake["late"] = make(chan struct{}, 1)
	f.poll()
	if _, err := f.eng.DeliverAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	eq(t, ops(late.events()), []string{"appointment:upsert:10", "doctor:upsert:1", "doctor:upsert:2"})
	eq(t, ops(f.rec.events()), nil)
	// Once only.
	late.reset()
	f.poll()
	f.eng.DeliverAll(context.Background())
	eq(t, ops(late.events()), nil)
}

// TestChunkedCommits commits upserts in small chunks while reading: every record is
// sent once, a chunk's new records are never taken for deletions, and the guard
// counts only the records known before the poll.
func TestChunkedCommits(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.eng.chunk = 3
	for i := 1; i <= 10; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	s := f.poll()
	if e := s.Entities[0]; e.Upserts != 10 || e.Deletes != 0 || e.Held != 0 || e.Error != "" {
		t.Fatalf("first poll: %+v", e)
	}
	if n, _ := f.st.SnapshotCount(context.Background(), mapping.EntityDoctor); n != 10 {
		t.Fatalf("snapshot %d", n)
	}
	// The three full chunks are queued as one batch row each (their events share
	// the row's sequence number); the last record, in the poll's last commit, alone.
	due, err := f.st.Due(context.Background(), "rec", f.now, 100)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]int{}
	for _, ev := range due {
		bySeq[ev.Seq]++
	}
	if len(due) != 10 || len(bySeq) != 4 {
		t.Fatalf("queued %d events in %d rows, want 10 in 4 (3 batch rows of 3, 1 single)", len(due), len(bySeq))
	}
	f.deliver()
	if len(f.rec.events()) != 10 {
		t.Fatalf("delivered %d", len(f.rec.events()))
	}
	f.rec.reset()
	// 7 edits (more than a chunk) and one delete in one poll.
	for i := 1; i <= 7; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Другая"), "")
	}
	f.mem.del(mapping.EntityDoctor, "10")
	s = f.poll()
	if e := s.Entities[0]; e.Upserts != 7 || e.Deletes != 1 {
		t.Fatalf("second poll: %+v", e)
	}
	f.deliver()
	if len(f.rec.events()) != 8 {
		t.Fatalf("delivered %d", len(f.rec.events()))
	}
}

// TestNullVersion: a row whose version column is NULL is read in full every poll —
// its edits are seen, and it is never taken for deleted.
func TestNullVersion(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.versions[mapping.EntityDoctor] = true
	f.mem.put(doctor("1", "А"), "v1")
	f.mem.put(doctor("2", "Б"), "NULL")
	f.poll()
	f.deliver()
	f.rec.reset()
	s := f.poll()
	if e := s.Entities[0]; e.Deletes != 0 || e.Upserts != 0 || e.Mode != "versions" {
		t.Fatalf("unchanged: %+v", e)
	}
	f.mem.put(doctor("2", "Б-изменён"), "NULL")
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"doctor:upsert:2"})
}

// TestReplayNeverUndoesANewerChange: a dead-lettered upsert whose record has changed
// since (and the newer state was delivered) is dropped on replay, not resent.
func TestReplayNeverUndoesANewerChange(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.put(doctor("1", "Старая"), "")
	f.mem.put(doctor("2", "Врач"), "")
	f.poll()
	f.rec.failFn = func(ev connectors.Event) error { return connectors.Permanent("rejected", nil) }
	f.deliver() // both dead-lettered
	f.rec.failFn = nil
	f.mem.put(doctor("1", "Новая"), "")
	f.poll()
	f.deliver() // doctor 1's newer state reaches the peer
	f.rec.reset()
	r, err := f.st.Replay(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requeued != 1 || r.Superseded != 1 {
		t.Fatalf("replay: %+v, want doctor 2 requeued and doctor 1 dropped", r)
	}
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"doctor:upsert:2"})
}

// TestRowVersions: a profile whose rows carry the version needs no version scan on a
// full read, and the next poll takes the cheap path with no refetch.
func TestRowVersions(t *testing.T) {
	f := newFixture(t, mapping.EntityAppointment)
	f.mem.versions[mapping.EntityAppointment] = true
	f.mem.rowVersions[mapping.EntityAppointment] = true
	d := f.now.Add(24 * time.Hour)
	for i := 1; i <= 5; i++ {
		f.mem.put(appt(fmt.Sprint(i), d, mapping.StatusBooked), "v1")
	}
	f.poll()
	if f.mem.calls["appointment.versions"] != 0 || f.mem.calls["appointment.rows"] != 1 {
		t.Fatalf("a full read with row versions scanned versions: %v", f.mem.calls)
	}
	f.poll()
	if f.mem.calls["appointment.versions"] != 1 || f.mem.calls["appointment.by_keys"] != 0 {
		t.Fatalf("unchanged poll: %v", f.mem.calls)
	}
	f.mem.put(appt("3", d, mapping.StatusCancelled), "v2")
	f.deliver()
	f.rec.reset()
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:3"})
}
