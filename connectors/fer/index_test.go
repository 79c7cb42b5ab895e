package fer

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

func scheduleReq(snils, oid, from, to string) string {
	return `<er:GetScheduleInfoRequest>` + session + `<er:Specialist_SNILS>` + snils + `</er:Specialist_SNILS><er:MO_OID>` + oid +
		`</er:MO_OID><er:Start_Date_Range>` + from + `</er:Start_Date_Range><er:End_Date_Range>` + to +
		`</er:End_Date_Range><er:Start_Time_Range>00:00:00</er:Start_Time_Range><er:End_Time_Range>23:59:59</er:End_Time_Range></er:GetScheduleInfoRequest>`
}

func event(op string, r mapping.Record) connectors.Event {
	data, _ := json.Marshal(r)
	if op == connectors.OpDelete {
		data = nil
	}
	return connectors.Event{Entity: r.EntityName(), Op: op, Key: r.RecordKey(), Data: data}
}

// TestDeliveredChangesReachTheSchedule: a slot the engine reports busy, a new shift's
// slots and a doctor's new СНИЛС are answered at once, from memory.
func TestDeliveredChangesReachTheSchedule(t *testing.T) {
	h := newTestHost(t)
	h.put(clinic()...)
	s := startServer(t, h, nil)
	doc := snils("112233445")
	_, before := s.call(t, OpGetScheduleInfo, scheduleReq(doc, oidMoscow, "2026-12-02", "2026-12-02"))
	first := mapping.SlotID("10", time.Date(2026, 12, 2, 9, 0, 0, 0, moscow))
	if !strings.Contains(before, first) {
		t.Fatalf("slot %s not offered:\n%s", first, before)
	}
	busy := &mapping.Slot{ID: first, DoctorID: "10", BranchID: "1", ShiftID: "s2", Start: time.Date(2026, 12, 2, 9, 0, 0, 0, moscow), End: time.Date(2026, 12, 2, 9, 30, 0, 0, moscow)}
	late := &mapping.Shift{ID: "s9", DoctorID: "10", BranchID: "1", Start: time.Date(2026, 12, 2, 15, 0, 0, 0, moscow), End: time.Date(2026, 12, 2, 16, 0, 0, 0, moscow), SlotMinutes: 30}
	batch := []connectors.Event{event(connectors.OpUpsert, busy)}
	for _, sl := range mapping.DeriveSlots(late, nil, time.Time{}) {
		batch = append(batch, event(connectors.OpUpsert, sl))
	}
	for i, err := range s.c.Deliver(context.Background(), batch) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	_, after := s.call(t, OpGetScheduleInfo, scheduleReq(doc, oidMoscow, "2026-12-02", "2026-12-02"))
	if strings.Contains(after, first) {
		t.Errorf("busy slot still offered:\n%s", after)
	}
	if !strings.Contains(after, "2026-12-02T15:30:00+03:00") || strings.Index(after, "T10:30:00") > strings.Index(after, "T15:00:00") {
		t.Errorf("new shift's slots missing or out of order:\n%s", after)
	}
	// Doctor 12 had no СНИЛС; once the MIS has one, the doctor is offered.
	fixed := &mapping.Doctor{ID: "12", BranchID: "1", SpecialtyID: "1", LastName: "Сидоров", FirstName: "Иван", SNILS: snils("998877665"), OnlineBooking: true}
	if errs := s.c.Deliver(context.Background(), []connectors.Event{event(connectors.OpUpsert, fixed)}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	_, got := s.call(t, OpGetMOResourceInfo, `<er:GetMOResourceInfoRequest>`+session+`<er:Service_Posts><er:Post><er:Post_Id>109</er:Post_Id></er:Post></er:Service_Posts><er:Start_Date_Range>2026-12-01</er:Start_Date_Range><er:End_Date_Range>2026-12-14</er:End_Date_Range></er:GetMOResourceInfoRequest>`)
	if !strings.Contains(got, "Сидоров") {
		t.Errorf("doctor with a new СНИЛС not offered:\n%s", got)
	}
	// A broken record fails alone, permanently.
	errs := s.c.Deliver(context.Background(), []connectors.Event{{Entity: mapping.EntitySlot, Op: connectors.OpUpsert, Key: "x", Data: json.RawMessage(`{`)}})
	if !connectors.IsPermanent(errs[0]) {
		t.Errorf("broken slot: %v, want a permanent error", errs[0])
	}
	validate(t, bodyOf(t, before), bodyOf(t, after), bodyOf(t, got))
}

// TestProblemsReported: doctors without a valid СНИЛС, with an unmapped specialty and
// branches without an OID are left out and listed for the operator.
func TestProblemsReported(t *testing.T) {
	h := newTestHost(t)
	h.put(clinic()...)
	h.put(&mapping.Doctor{ID: "14", BranchID: "1", SpecialtyID: "1", LastName: "Орлова", FirstName: "Анна", SNILS: "112-233-445 00", OnlineBooking: true})
	s := startServer(t, h, nil)
	l := s.c.Listening()[0]
	all := strings.Join(l.Problems, "\n")
	for _, want := range []string{"нет действительного СНИЛС в МИС: не предлагаются врачи 12 (Сидоров Иван), 14 (Орлова Анна)", "(задайте specialty.3): не предлагается врач 13 (Кузнецов Пётр)", "филиал 3 «Клиника на Тверской» не предлагается: нет OID ФРМО"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	s2 := startServer(t, h, map[string]string{"specialty.3": "99"})
	if p := strings.Join(s2.c.Listening()[0].Problems, "\n"); !strings.Contains(p, "для специальности 3 не задан код должности ФРМР (задайте post.3): не предлагается врач 13 (Кузнецов Пётр)") {
		t.Errorf("unmapped position not reported:\n%s", p)
	}
	if !l.Healthy || !l.Serving || !strings.Contains(l.Detail, "врачей: 2") {
		t.Errorf("listener: %+v", l)
	}
	_, _ = s.call(t, OpGetMOInfoExtended, `<er:GetMOInfoExtendedRequest>`+session+`</er:GetMOInfoExtendedRequest>`)
	_, _ = s.call(t, OpGetMOInfoExtended, `<er:GetMOInfoExtendedRequest></er:GetMOInfoExtendedRequest>`)
	l = s.c.Listening()[0]
	if l.Requests[OpGetMOInfoExtended] != 2 || l.Errors[OpGetMOInfoExtended] != 1 {
		t.Errorf("counts: %v %v", l.Requests, l.Errors)
	}
}

func TestCancelDeadline(t *testing.T) {
	visit := time.Date(2026, 12, 3, 9, 0, 0, 0, ekb)
	for _, c := range []struct {
		cutoff string
		want   time.Time
	}{
		{"18:00", time.Date(2026, 12, 2, 18, 0, 0, 0, ekb)},
		{"2h", visit.Add(-2 * time.Hour)},
		{"0", visit.Add(-time.Nanosecond)},
	} {
		set, err := parseSettings(testEnv(t), testValues(map[string]string{"cancel_cutoff": c.cutoff}))
		if err != nil {
			t.Fatal(err)
		}
		if got := set.cancelDeadline(visit); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.cutoff, got, c.want)
		}
	}
	if _, err := parseSettings(testEnv(t), testValues(map[string]string{"cancel_cutoff": "25:00"})); err == nil {
		t.Error("25:00 accepted")
	}
}

// TestCancelRules: the cut-off, an unknown booking, one cancelled already and an
// unknown reason are answered before the MIS is asked.
func TestCancelRules(t *testing.T) {
	h := newTestHost(t)
	h.put(clinic()...)
	h.put(&mapping.Appointment{ID: "a1", DoctorID: "10", BranchID: "1", Start: time.Date(2026, 12, 1, 15, 0, 0, 0, moscow), End: time.Date(2026, 12, 1, 15, 30, 0, 0, moscow), Status: mapping.StatusBooked},
		&mapping.Appointment{ID: "a2", DoctorID: "10", BranchID: "1", Start: time.Date(2026, 12, 9, 9, 0, 0, 0, moscow), End: time.Date(2026, 12, 9, 9, 30, 0, 0, moscow), Status: mapping.StatusCancelled})
	s := startServer(t, h, map[string]string{"cancel_cutoff": "18:00"})
	cancel := func(id, reason string) string {
		_, got := s.call(t, OpCancelAppointment, `<er:CancelAppointmentRequest><er:Book_Id_Mis>`+id+`</er:Book_Id_Mis><er:Canceled_Reason>`+reason+`</er:Canceled_Reason></er:CancelAppointmentRequest>`)
		return got
	}
	var answers []string
	for _, c := range []struct{ id, reason, want string }{
		{"a1", "CANCELED_BY_PATIENT", "<Status_Code>CANCEL_CUTOFF</Status_Code>"}, // today 15:00: the cut-off was yesterday 18:00
		{"a2", "CANCELED_BY_PATIENT", "<Status_Code>CANCELED</Status_Code><Comment>Запись уже отменена</Comment>"},
		{"a9", "CANCELED_BY_PATIENT", "<Status_Code>APPOINTMENT_NOT_FOUND</Status_Code>"},
		{"a1", "BORED", "<Status_Code>INVALID_REQUEST</Status_Code>"},
	} {
		got := cancel(c.id, c.reason)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s %s: %s", c.id, c.reason, got)
		}
		answers = append(answers, bodyOf(t, got))
	}
	validate(t, answers...)
}

// failingHost fails Records a number of times before it answers.
type failingHost struct {
	*testHost
	mu    sync.Mutex
	fails int
}

func (h *failingHost) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	h.mu.Lock()
	if h.fails > 0 {
		h.fails--
		h.mu.Unlock()
		return errors.New("state store busy")
	}
	h.mu.Unlock()
	return h.testHost.Records(ctx, entity, fn)
}

// TestStateLoadRetried: when the synced state cannot be read at start, the listener is
// unhealthy and says why, and the state is read again until it succeeds.
func TestStateLoadRetried(t *testing.T) {
	old := loadRetry
	loadRetry = 20 * time.Millisecond
	defer func() { loadRetry = old }()
	th := newTestHost(t)
	th.put(clinic()...)
	h := &failingHost{testHost: th, fails: 3}
	conn, err := New(testEnv(t), testValues(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Conn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.serveOn(ctx, h, ln) }()
	defer func() { cancel(); <-done }()
	sawProblem := false
	for i := 0; i < 500 && !c.Listening()[0].Healthy; i++ {
		if l := c.Listening()[0]; len(l.Problems) > 0 && strings.Contains(l.Problems[0], "state store busy") {
			sawProblem = true
		}
		time.Sleep(2 * time.Millisecond)
	}
	if l := c.Listening()[0]; !l.Healthy || !strings.Contains(l.Detail, "врачей: 2") {
		t.Fatalf("after the retries: %+v", l)
	}
	if !sawProblem {
		t.Error("the failed read was never shown")
	}
}

// gateHost holds Records of slots until release is closed, having read them already.
type gateHost struct {
	*testHost
	reading chan struct{}
	release chan struct{}
}

func (h *gateHost) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	if entity != mapping.EntitySlot {
		return h.testHost.Records(ctx, entity, fn)
	}
	var keys []string
	var data []json.RawMessage
	_ = h.testHost.Records(ctx, entity, func(k string, d json.RawMessage) error {
		keys, data = append(keys, k), append(data, d)
		return nil
	})
	close(h.reading)
	<-h.release
	for i := range keys {
		if err := fn(keys[i], data[i]); err != nil {
			return err
		}
	}
	return nil
}

// TestEventDuringLoadKept: a slot delivered as busy while the synced state is being
// read (and read as free) stays busy once the read is done.
func TestEventDuringLoadKept(t *testing.T) {
	th := newTestHost(t)
	th.put(clinic()...)
	h := &gateHost{testHost: th, reading: make(chan struct{}), release: make(chan struct{})}
	conn, err := New(testEnv(t), testValues(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Conn)
	loaded := make(chan error, 1)
	go func() { loaded <- c.ix.load(context.Background(), h) }()
	<-h.reading
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, moscow)
	busy := &mapping.Slot{ID: mapping.SlotID("10", start), DoctorID: "10", BranchID: "1", ShiftID: "s2", Start: start, End: start.Add(30 * time.Minute)}
	if errs := c.Deliver(context.Background(), []connectors.Event{event(connectors.OpUpsert, busy)}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	close(h.release)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	c.ix.mu.RLock()
	defer c.ix.mu.RUnlock()
	if s := c.ix.slots[busy.ID]; s == nil || s.Free {
		t.Errorf("slot after the load: %+v, want busy", s)
	}
	n := 0
	for _, s := range c.ix.byDoctor["10"] {
		if s.ID == busy.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the slot is %d times in the doctor's list", n)
	}
}

// TestCheckStateWarnsOrFails: for `medsync check`, records left out (no СНИЛС, no OID)
// are remarks while other doctors are offered; when no doctor can be offered at all
// the check fails, saying what to set.
func TestCheckStateWarnsOrFails(t *testing.T) {
	conn, err := New(testEnv(t), testValues(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := conn.(*Conn)
	defer c.Close()
	h := newTestHost(t)
	h.put(clinic()...)
	checks := c.CheckState(context.Background(), h)
	var warned int
	for _, k := range checks {
		switch {
		case k.Err != nil && !k.Warn:
			t.Errorf("check %q failed: %v (other doctors are offered)", k.Name, k.Err)
		case k.Err != nil:
			warned++
		}
	}
	if warned == 0 {
		t.Errorf("no warning for the records left out: %+v", checks)
	}
	// The same clinic with every doctor's СНИЛС gone: nothing can be offered.
	for _, r := range clinic() {
		if d, ok := r.(*mapping.Doctor); ok {
			d.SNILS = ""
			h.put(d)
		}
	}
	checks = c.CheckState(context.Background(), h)
	if k := checks[0]; k.Err == nil || k.Warn || !strings.Contains(k.Hint, "СНИЛС") {
		t.Errorf("no doctor offered, check %q: err %v warn %v hint %q; want a failure naming what to set", k.Name, k.Err, k.Warn, k.Hint)
	}
}
