package ondoc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/connectors/conformance"
	"medsync/mapping"
)

func envFor(dir string) connectors.Env {
	msk, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		panic(err)
	}
	return connectors.Env{Instance: Name, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), StateDir: dir, BaseDir: dir, Zone: msk}
}

// valuesFor fills defaults as the config loader does, then applies m.
func valuesFor(m map[string]string) *connectors.Values {
	all := map[string]string{}
	for _, o := range connectors.Lookup(Name).Options {
		if !o.Pattern {
			all[o.Name] = o.Default
		}
	}
	for k, v := range m {
		all[k] = v
	}
	return connectors.NewValues("config.ini", "connector.ondoc", all)
}

func upsert(rec mapping.Record, n int) connectors.Event {
	data, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	return connectors.Event{Entity: rec.EntityName(), Op: connectors.OpUpsert, Key: rec.RecordKey(),
		IdempotencyKey: rec.EntityName() + "-" + rec.RecordKey() + "-v" + string(rune('0'+n)), Data: data, Attempt: 1}
}

func del(entity, key string) connectors.Event {
	return connectors.Event{Entity: entity, Op: connectors.OpDelete, Key: key, IdempotencyKey: entity + "-" + key + "-del", Attempt: 1}
}

func mustNil(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// eventKey is the event's idempotency key inside a wire key (Event.DeliveryKey).
func eventKey(wire string) string {
	k, _, _ := strings.Cut(wire, "@")
	return k
}

// received translates what the fake accepted into canonical terms for the
// conformance suite.
func (f *fakeONDOC) received(t *testing.T) []conformance.Received {
	var out []conformance.Received
	for _, r := range f.requests() {
		if r.Status != 200 {
			continue
		}
		for _, raw := range r.Items {
			var probe struct {
				MisID          string `json:"mis_id"`
				Name           string `json:"name"`
				LastName       string `json:"last_name"`
				Active         *bool  `json:"active"`
				Deleted        bool   `json:"deleted"`
				CancelReason   string `json:"cancel_reason"`
				IdempotencyKey string `json:"idempotency_key"`
			}
			if err := json.Unmarshal(raw, &probe); err != nil {
				t.Fatal(err)
			}
			op := connectors.OpUpsert
			entity := map[string]string{"/company/filials": mapping.EntityBranch, "/company/specialities": mapping.EntitySpecialty,
				"/company/doctors": mapping.EntityDoctor, "/company/services": mapping.EntityService, "/branch/slots": mapping.EntitySlot,
				"/branch/visits": mapping.EntityAppointment, "/branch/patients": mapping.EntityPatient}[r.Path]
			switch {
			case entity == mapping.EntitySlot && probe.Deleted,
				entity == mapping.EntityAppointment && probe.CancelReason == reasonDeletedInMIS,
				probe.Active != nil && !*probe.Active && probe.Name == "" && probe.LastName == "":
				op = connectors.OpDelete
			}
			out = append(out, conformance.Received{Entity: entity, Op: op, Key: probe.MisID, IdempotencyKey: eventKey(probe.IdempotencyKey)})
		}
		if r.Path == "/branch/patients/unlink" {
			var u unlinkRequest
			_ = json.Unmarshal(r.Body, &u)
			out = append(out, conformance.Received{Entity: mapping.EntityPatient, Op: connectors.OpDelete, Key: u.PatientMisID, IdempotencyKey: eventKey(r.Idem)})
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Entities: connectors.Lookup(Name).Entities,
		New: func(t *testing.T) *conformance.Instance {
			f := newFake(t)
			c := newConn(t, f, map[string]string{"link_required": "false"})
			// The suite's patient card is linked to the clinic, so its updates are sent.
			if err := c.store.setLinked(context.Background(), "P-77001", true, fixedNow); err != nil {
				t.Fatal(err)
			}
			return &conformance.Instance{
				Connector: c,
				Received:  f.received,
				Stall:     func(t *testing.T) func() { f.stall(); return f.release },
			}
		},
	})
}

func TestRegistered(t *testing.T) {
	s := connectors.Lookup(Name)
	if s == nil {
		t.Fatal("ondoc is not registered")
	}
	secret := map[string]bool{}
	for _, o := range s.Options {
		secret[o.Name] = o.Secret
	}
	if !secret["token_company"] || !secret["token_branch"] {
		t.Errorf("tokens must be secret options: %v", secret)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	base := map[string]string{"server": "https://ondoc.example", "token_company": "a", "token_branch": "b", "timeout": "30s", "rate_limit": "10", "inbound_interval": "0"}
	cases := []struct {
		key, val, want string
	}{
		{"server", "ondoc.example", "not an http(s) URL"},
		{"token_branch", "", "token_branch: is required"},
		{"timezone", "Москва", "timezone"},
		{"rate_limit", "-1", "rate_limit"},
		{"path.visits", "branch/visits", "must start with /"},
		{"path.appointment", "/x", "no such endpoint"},
		{"link_required", "может быть", "link_required"},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			m[tc.key] = tc.val
			_, err := newForTest(dir, m)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "[connector.ondoc]") {
				t.Fatalf("got %v, want an error naming the section and %q", err, tc.want)
			}
		})
	}
}

func TestFakeIsStrict(t *testing.T) {
	f := newFake(t)
	post := func(path, auth, idem, body string) int {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := `{"items":[{"mis_id":"1","status":"Записан","patient_mis_id":"5","idempotency_key":"k"}]}`
	cases := []struct {
		name, path, auth, idem, body string
		want                         int
	}{
		{"accepted", "/branch/visits", testBranchKey, "k", ok, 200},
		{"company key on a branch path", "/branch/visits", testCompanyKey, "k", ok, 401},
		{"no key", "/branch/visits", "", "k", ok, 401},
		{"no idempotency key", "/branch/visits", testBranchKey, "", ok, 400},
		{"unknown field", "/branch/visits", testBranchKey, "k", `{"items":[{"mis_id":"1","status":"Записан","patient_mis_id":"5","idempotency_key":"k","colour":"red"}]}`, 400},
		{"unknown status", "/branch/visits", testBranchKey, "k", `{"items":[{"mis_id":"1","status":"cancelled","patient_mis_id":"5","idempotency_key":"k"}]}`, 422},
	}
	for _, tc := range cases {
		if got := post(tc.path, tc.auth, tc.idem, tc.body); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestDeliverWireShapes(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	ekb := time.FixedZone("YEKT", 5*3600)
	start := time.Date(2026, 11, 23, 9, 40, 0, 0, ekb)
	cases := []struct {
		name  string
		opts  map[string]string
		ev    connectors.Event
		path  string
		check func(t *testing.T, raw json.RawMessage)
	}{
		{"doctor withdrawn", nil, upsert(&mapping.Doctor{ID: "7", BranchID: "1", SpecialtyID: "2", LastName: "Петров", FirstName: "Олег", OnlineBooking: false, SlotMinutes: 30}, 1),
			"/company/doctors", func(t *testing.T, raw json.RawMessage) {
				var d wireDoctor
				_ = json.Unmarshal(raw, &d)
				if d.Active || d.LastName != "Петров" || d.FilialMisID != "1" {
					t.Errorf("withdrawn doctor sent as %+v", d)
				}
			}},
		{"service price and prepayment", nil, upsert(&mapping.Service{ID: "11", Name: "Приём терапевта первичный", PriceKopecks: mapping.Kopecks(150000), PrepayKopecks: 50050, DurationMinutes: 30, Mode: mapping.ModeOnline, OnlineBooking: true}, 1),
			"/company/services", func(t *testing.T, raw json.RawMessage) {
				var s wireService
				_ = json.Unmarshal(raw, &s)
				if s.Price != "1500.00" || s.Prepayment != "500.50" || s.Mode != "online" || !s.Active || s.DurationMinutes != 30 {
					t.Errorf("service sent as %+v", s)
				}
			}},
		{"service without a price in the MIS", nil, upsert(&mapping.Service{ID: "12", Name: "Консультация", DurationMinutes: 30, Mode: mapping.ModeClinic, OnlineBooking: true}, 1),
			"/company/services", func(t *testing.T, raw json.RawMessage) {
				// Unknown is not free: no price field at all, never "0.00".
				if strings.Contains(string(raw), `"price"`) {
					t.Errorf("a service with no price in the MIS was sent as %s", raw)
				}
			}},
		{"free service", nil, upsert(&mapping.Service{ID: "13", Name: "Осмотр по ОМС", PriceKopecks: mapping.Kopecks(0), DurationMinutes: 30, Mode: mapping.ModeClinic, OnlineBooking: true}, 1),
			"/company/services", func(t *testing.T, raw json.RawMessage) {
				if !strings.Contains(string(raw), `"price":"0.00"`) {
					t.Errorf("a free service was sent as %s", raw)
				}
			}},
		{"slot in its own offset", nil, upsert(&mapping.Slot{ID: "s1", DoctorID: "7", BranchID: "1", Start: start, End: start.Add(20 * time.Minute), Free: false}, 1),
			"/branch/slots", func(t *testing.T, raw json.RawMessage) {
				var s wireSlot
				_ = json.Unmarshal(raw, &s)
				if s.Start != "2026-11-23T09:40:00+05:00" || s.End != "2026-11-23T10:00:00+05:00" || s.Free {
					t.Errorf("slot sent as %+v", s)
				}
			}},
		{"slot with timezone setting", map[string]string{"timezone": "+03:00"}, upsert(&mapping.Slot{ID: "s1", DoctorID: "7", BranchID: "1", Start: start, End: start.Add(20 * time.Minute), Free: true}, 1),
			"/branch/slots", func(t *testing.T, raw json.RawMessage) {
				var s wireSlot
				_ = json.Unmarshal(raw, &s)
				if s.Start != "2026-11-23T07:40:00+03:00" || !s.Free {
					t.Errorf("slot sent as %+v", s)
				}
			}},
		{"branch exact JSON", nil, upsert(&mapping.Branch{ID: "1", Name: "Клиника на Ленина", Address: "г. Казань, ул. Ленина, 5", TimeZone: "Europe/Moscow"}, 1),
			"/company/filials", func(t *testing.T, raw json.RawMessage) {
				want := `{"mis_id":"1","name":"Клиника на Ленина","address":"г. Казань, ул. Ленина, 5","timezone":"Europe/Moscow","active":true,"idempotency_key":"branch-1-v1@0.0"}`
				if string(raw) != want {
					t.Errorf("got  %s\nwant %s", raw, want)
				}
			}},
		{"visit exact JSON", map[string]string{"link_required": "false"}, upsert(&mapping.Appointment{ID: "900", PatientID: "5", DoctorID: "7", BranchID: "1",
			Start: time.Date(2026, 11, 23, 10, 0, 0, 0, msk), End: time.Date(2026, 11, 23, 10, 30, 0, 0, msk), Status: mapping.StatusCancelled,
			CancelReason: "Болезнь врача", Source: mapping.SourceRegistry, ServiceIDs: []string{"11"}}, 1),
			"/branch/visits", func(t *testing.T, raw json.RawMessage) {
				want := `{"mis_id":"900","patient_mis_id":"5","doctor_mis_id":"7","filial_mis_id":"1","start":"2026-11-23T10:00:00+03:00","end":"2026-11-23T10:30:00+03:00","status":"Отменена","cancel_reason":"Болезнь врача","source":"registry","service_mis_ids":["11"],"idempotency_key":"appointment-900-v1@0.0"}`
				if string(raw) != want {
					t.Errorf("got  %s\nwant %s", raw, want)
				}
			}},
		{"branch delete", nil, del(mapping.EntityBranch, "3"), "/company/filials", func(t *testing.T, raw json.RawMessage) {
			if want := `{"mis_id":"3","active":false,"idempotency_key":"branch-3-del@0.0"}`; string(raw) != want {
				t.Errorf("got %s, want %s", raw, want)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			c := newConn(t, f, tc.opts)
			mustNil(t, c.Deliver(context.Background(), []connectors.Event{tc.ev}))
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Path != tc.path || len(reqs[0].Items) != 1 {
				t.Fatalf("requests: %+v", reqs)
			}
			if reqs[0].Idem != tc.ev.DeliveryKey() {
				t.Errorf("Idempotency-Key %q, want the event's %q", reqs[0].Idem, tc.ev.DeliveryKey())
			}
			tc.check(t, reqs[0].Items[0])
		})
	}
}

func TestBatching(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	var batch []connectors.Event
	for i := range 150 {
		batch = append(batch, upsert(&mapping.Slot{ID: "s" + string(rune('A'+i%26)) + string(rune('a'+i/26)), DoctorID: "7", BranchID: "1",
			Start: fixedNow.Add(time.Duration(i) * 20 * time.Minute), End: fixedNow.Add(time.Duration(i+1) * 20 * time.Minute), Free: true}, 1))
	}
	batch = append(batch, upsert(&mapping.Doctor{ID: "7", BranchID: "1", SpecialtyID: "2", LastName: "Петров", FirstName: "Олег", OnlineBooking: true}, 1))
	mustNil(t, c.Deliver(context.Background(), batch))
	reqs := f.requests()
	if len(reqs) != 3 || len(reqs[0].Items) != 100 || len(reqs[1].Items) != 50 || reqs[2].Path != "/company/doctors" {
		t.Fatalf("want 100 + 50 slots then the doctor, got %d requests", len(reqs))
	}
	if !strings.HasPrefix(reqs[0].Idem, "batch-") || reqs[0].Idem == reqs[1].Idem {
		t.Errorf("batch idempotency keys %q %q", reqs[0].Idem, reqs[1].Idem)
	}
}

func appt(id, patient string, start time.Time, status, reason string) *mapping.Appointment {
	return &mapping.Appointment{ID: id, PatientID: patient, DoctorID: "7", BranchID: "1", Start: start, End: start.Add(30 * time.Minute),
		Status: status, CancelReason: reason, Source: mapping.SourceRegistry}
}

func TestAppointmentCycle(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	ctx := context.Background()
	if err := c.store.setLinked(ctx, "5", true, fixedNow); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
	edited := appt("900", "5", start, mapping.StatusBooked, "")
	edited.Comment = "принести снимки"
	steps := []connectors.Event{
		upsert(appt("900", "5", start, mapping.StatusBooked, ""), 1),
		upsert(edited, 2),
		upsert(appt("900", "5", start, mapping.StatusCancelled, "Болезнь врача"), 3),
		upsert(appt("900", "5", start, mapping.StatusBooked, ""), 4), // restored
		del(mapping.EntityAppointment, "900"),                        // hard delete
	}
	for _, ev := range steps {
		mustNil(t, c.Deliver(ctx, []connectors.Event{ev}))
	}
	visits := accepted[wireVisit](f, "/branch/visits")
	want := []struct{ status, reason, comment string }{
		{visitBooked, "", ""}, {visitBooked, "", "принести снимки"}, {visitCancelled, "Болезнь врача", ""},
		{visitBooked, "", ""}, {visitCancelled, reasonDeletedInMIS, ""},
	}
	if len(visits) != len(want) {
		t.Fatalf("got %d visits, want %d: %+v", len(visits), len(want), visits)
	}
	for i, w := range want {
		v := visits[i]
		if v.MisID != "900" || v.PatientMisID != "5" || v.Status != w.status || v.CancelReason != w.reason || v.Comment != w.comment {
			t.Errorf("visit %d: %+v, want %+v", i, v, w)
		}
		if v.IdempotencyKey != steps[i].DeliveryKey() {
			t.Errorf("visit %d carries key %q, want %q", i, v.IdempotencyKey, steps[i].DeliveryKey())
		}
	}
}

// host is a connectors.Host for Run.
type host struct {
	log       *slog.Logger
	dir       string
	mis       connectors.MISWriter
	branches  map[string]mapping.Branch
	refreshed []connectors.RefreshRequest
}

func (h *host) Logger() *slog.Logger      { return h.log }
func (h *host) StateDir() string          { return h.dir }
func (h *host) MIS() connectors.MISWriter { return h.mis }
func (h *host) Refresh(ctx context.Context, r connectors.RefreshRequest) error {
	h.refreshed = append(h.refreshed, r)
	return nil
}
func (h *host) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	if entity != mapping.EntityBranch {
		return fmt.Errorf("the test host keeps no %s data", entity)
	}
	for k, b := range h.branches {
		data, _ := json.Marshal(b)
		if err := fn(k, data); err != nil {
			return err
		}
	}
	return nil
}

func TestHeldUntilLinked(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	ctx := context.Background()
	var logs bytes.Buffer
	c.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	future := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	past := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	batch := []connectors.Event{
		upsert(appt("901", "6", future, mapping.StatusBooked, ""), 1),
		upsert(appt("902", "6", past, mapping.StatusBooked, ""), 1),
		upsert(appt("903", "6", future.Add(time.Hour), mapping.StatusBooked, ""), 1),
		upsert(appt("903", "6", future.Add(time.Hour), mapping.StatusCancelled, "Пациент отменил запись"), 2),  // never shown: dropped
		upsert(appt("904", "", future, mapping.StatusBooked, ""), 1),                                           // walk-in
		upsert(&mapping.Patient{ID: "6", LastName: "Смирнов", FirstName: "Алексей", Phone: "+79161234567"}, 1), // not linked: not sent
	}
	mustNil(t, c.Deliver(ctx, batch))
	if n := len(f.requests()); n != 0 {
		t.Fatalf("unlinked patient: %d requests sent, want none", n)
	}
	// The registrar issues a code; ONDOC reports the link on its events feed.
	if err := c.RegisterLinkCode(ctx, "6", "123456789", time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	code := f.codes["6"]
	f.mu.Unlock()
	if code != "123456789" {
		t.Fatalf("ONDOC got code %q", code)
	}
	f.addEvents(feedEvent{ID: "e1", Type: evPatientLinked, PatientMisID: "6"})
	h := &host{log: c.log, dir: t.TempDir()}
	if err := c.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	visits := accepted[wireVisit](f, "/branch/visits")
	if len(visits) != 1 || visits[0].MisID != "901" || visits[0].IdempotencyKey != batch[0].DeliveryKey() {
		t.Fatalf("backfill sent %+v, want only the future appointment 901", visits)
	}
	held, _ := c.store.heldOfLinked(ctx, time.Time{})
	if len(held) != 0 {
		t.Errorf("held after backfill: %+v", held)
	}
	if strings.Contains(logs.String(), "123456789") {
		t.Errorf("the link code appears in the log:\n%s", logs.String())
	}
	// Now linked: a new appointment and a patient update go out at once.
	mustNil(t, c.Deliver(ctx, []connectors.Event{upsert(appt("905", "6", future.Add(2*time.Hour), mapping.StatusBooked, ""), 1),
		upsert(&mapping.Patient{ID: "6", LastName: "Смирнов", FirstName: "Алексей", Phone: "+79161234567"}, 2)}))
	if n := len(accepted[wireVisit](f, "/branch/visits")); n != 2 {
		t.Errorf("after link: %d visits, want 2", n)
	}
	if p := accepted[wirePatient](f, "/branch/patients"); len(p) != 1 || p[0].Phone != "+79161234567" {
		t.Errorf("after link: patients %+v", p)
	}
	// The card is deleted in the MIS: unlink.
	mustNil(t, c.Deliver(ctx, []connectors.Event{upsert(&mapping.Patient{ID: "6", LastName: "Смирнов", FirstName: "Алексей", Deleted: true}, 3)}))
	un := accepted[unlinkRequest](f, "/branch/patients/unlink")
	if len(un) != 1 || un[0].PatientMisID != "6" || un[0].Reason != unlinkCardDeleted {
		t.Fatalf("unlink: %+v", un)
	}
	if ok, _ := c.store.isLinked(ctx, "6"); ok {
		t.Error("patient still linked after the card was deleted")
	}
}

func TestLinkCodeAlreadyLinkedBackfills(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	ctx := context.Background()
	f.linkedOn["8"] = true
	mustNil(t, c.Deliver(ctx, []connectors.Event{upsert(appt("910", "8", time.Now().Add(24*time.Hour), mapping.StatusBooked, ""), 1)}))
	if err := c.RegisterLinkCode(ctx, "8", "987654321", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if v := accepted[wireVisit](f, "/branch/visits"); len(v) != 1 || v[0].MisID != "910" {
		t.Fatalf("visits %+v", v)
	}
	if err := c.RegisterLinkCode(ctx, "8", "12345", time.Time{}); err == nil {
		t.Error("a 5-digit code was accepted")
	}
	// Unlink of a patient ONDOC does not know counts as done.
	f.unknown["8"] = true
	if err := c.Unlink(ctx, "8"); err != nil {
		t.Fatal(err)
	}
}

// Hole 9.3 / invariant 10: ONDOC processes a visit but its answer is lost (the
// connection drops, or the answer comes after the timeout); the appointment is then
// hard-deleted in the MIS. The delete must reach ONDOC as a cancellation: the visit
// may be showing there.
func TestLostAcknowledgementThenHardDelete(t *testing.T) {
	for _, mode := range []string{"drop", "late"} {
		t.Run(mode, func(t *testing.T) {
			f := newFake(t)
			c := newConn(t, f, map[string]string{"timeout": "300ms"})
			ctx := context.Background()
			if err := c.store.setLinked(ctx, "5", true, fixedNow); err != nil {
				t.Fatal(err)
			}
			start := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
			f.loseAnswers(mode)
			errs := c.Deliver(ctx, []connectors.Event{upsert(appt("901", "5", start, mapping.StatusBooked, ""), 1)})
			if errs[0] == nil || connectors.IsPermanent(errs[0]) {
				t.Fatalf("a lost answer must be a transient failure, got %v", errs[0])
			}
			if v := accepted[wireVisit](f, "/branch/visits"); len(v) != 1 || v[0].Status != visitBooked {
				t.Fatalf("ONDOC should have processed the visit: %+v", v)
			}
			// The engine coalesces the queued upsert with the newer delete.
			mustNil(t, c.Deliver(ctx, []connectors.Event{del(mapping.EntityAppointment, "901")}))
			v := accepted[wireVisit](f, "/branch/visits")
			if len(v) != 2 || v[1].MisID != "901" || v[1].Status != visitCancelled || v[1].CancelReason != reasonDeletedInMIS || v[1].PatientMisID != "5" {
				t.Fatalf("the hard delete did not reach ONDOC: %+v", v)
			}
			// Acknowledged: forgotten, a repeated delete sends nothing more.
			mustNil(t, c.Deliver(ctx, []connectors.Event{del(mapping.EntityAppointment, "901")}))
			if n := len(accepted[wireVisit](f, "/branch/visits")); n != 2 {
				t.Errorf("%d visits after a repeated delete, want 2", n)
			}
		})
	}
}

// TestUnlinkThenVisitInOneBatch: the card is deleted in the MIS and one of the
// patient's appointments changes, both in one batch (or the unlink's answer was lost
// and it is sent again next to newer events). The unlink goes out first; the visit
// after it is held, not sent to an ONDOC that no longer shows the patient (it would
// refuse it, and the event would become a dead letter).
func TestUnlinkThenVisitInOneBatch(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	ctx := context.Background()
	if err := c.store.setLinked(ctx, "6", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	mustNil(t, c.Deliver(ctx, []connectors.Event{
		upsert(&mapping.Patient{ID: "6", LastName: "Смирнов", FirstName: "Алексей", Deleted: true}, 3),
		upsert(appt("920", "6", future, mapping.StatusBooked, ""), 2),
		upsert(appt("921", "7", future, mapping.StatusBooked, ""), 1), // another patient, not linked: held
	}))
	if un := accepted[unlinkRequest](f, "/branch/patients/unlink"); len(un) != 1 || un[0].PatientMisID != "6" {
		t.Fatalf("unlink: %+v", un)
	}
	if v := accepted[wireVisit](f, "/branch/visits"); len(v) != 0 {
		t.Fatalf("visits sent after the patient was unlinked: %+v", v)
	}
	if held, err := c.store.isHeld(ctx, "920"); err != nil || !held {
		t.Fatalf("appointment 920 held = %v (%v), want held until the patient links again", held, err)
	}
}

// TestLinkNoticeReadAgain: a page of ONDOC's events feed is read again when medsync
// stopped before it moved the cursor past it (killed, or a later event of the page
// failed). A link notice on it was applied the first time; since then the card was
// deleted in the MIS and medsync unlinked the patient. Read again, the old notice must
// not link the patient once more: their visits would go to an ONDOC that no longer
// shows them.
func TestLinkNoticeReadAgain(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	ctx := context.Background()
	h := &host{log: c.log, dir: t.TempDir()}
	f.addEvents(feedEvent{ID: "e1", Type: evPatientLinked, PatientMisID: "6"})
	if err := c.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.store.isLinked(ctx, "6"); !ok {
		t.Fatal("the link notice was not applied")
	}
	if err := c.store.set(ctx, kvCursor, ""); err != nil { // the cursor never moved past the page
		t.Fatal(err)
	}
	f.linkedOn["6"] = true
	mustNil(t, c.Deliver(ctx, []connectors.Event{upsert(&mapping.Patient{ID: "6", LastName: "Смирнов", FirstName: "Алексей", Deleted: true}, 3)}))
	if err := c.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.store.isLinked(ctx, "6"); ok {
		t.Fatal("the link notice read again linked the unlinked patient once more")
	}
	future := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
	mustNil(t, c.Deliver(ctx, []connectors.Event{upsert(appt("930", "6", future, mapping.StatusBooked, ""), 1)}))
	if v := accepted[wireVisit](f, "/branch/visits"); len(v) != 0 {
		t.Fatalf("visits sent for the unlinked patient: %+v", v)
	}
	// A new link notice (a new event) links again.
	f.addEvents(feedEvent{ID: "e2", Type: evPatientLinked, PatientMisID: "6"})
	if err := c.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.store.isLinked(ctx, "6"); !ok {
		t.Fatal("a new link notice was not applied")
	}
}

// TestVisitOfPatientNotLinkedInONDOC: medsync's link state can be behind ONDOC's — a
// link notice read after medsync's own unlink of a deleted card, an unlink whose notice
// never came. ONDOC then refuses the visit with patient_not_linked, in an item of its
// answer or as a 422 of the request. That is not a bad record: the patient is recorded
// as unlinked, the visit (and a hard delete's cancellation) is held, nothing is
// dead-lettered, and everything held goes out when the patient links again.
func TestVisitOfPatientNotLinkedInONDOC(t *testing.T) {
	for _, answer := range []string{"item", "request"} {
		t.Run(answer, func(t *testing.T) {
			f := newFake(t)
			c := newConn(t, f, nil)
			ctx := context.Background()
			h := &host{log: c.log, dir: t.TempDir()}
			future := time.Now().Add(72 * time.Hour).Truncate(time.Hour)
			for _, p := range []string{"6", "7"} {
				if err := c.store.setLinked(ctx, p, true, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			// 940 reached ONDOC while patient 6 was linked; then ONDOC unlinked them.
			mustNil(t, c.Deliver(ctx, []connectors.Event{upsert(appt("940", "6", future, mapping.StatusBooked, ""), 1)}))
			f.notLinked["6"] = answer
			mustNil(t, c.Deliver(ctx, []connectors.Event{
				upsert(appt("941", "6", future.Add(time.Hour), mapping.StatusBooked, ""), 2),
				upsert(appt("950", "7", future, mapping.StatusBooked, ""), 3), // linked: goes through
				upsert(&mapping.Patient{ID: "6", LastName: "Смирнов", FirstName: "Алексей"}, 4),
				del(mapping.EntityAppointment, "940"),
			}))
			if ok, _ := c.store.isLinked(ctx, "6"); ok {
				t.Fatal("patient 6 still counted as linked after ONDOC said not linked")
			}
			for _, id := range []string{"941", "940"} {
				if held, err := c.store.isHeld(ctx, id); err != nil || !held {
					t.Fatalf("appointment %s held = %v (%v), want held until the patient links again", id, held, err)
				}
			}
			var sent []string
			for _, v := range accepted[wireVisit](f, "/branch/visits") {
				sent = append(sent, v.MisID+" "+v.Status)
			}
			if want := []string{"940 Записан", "950 Записан"}; !slices.Equal(sent, want) {
				t.Fatalf("visits taken by ONDOC: %v, want %v", sent, want)
			}
			// The patient links again: the held visit and the cancellation go out.
			delete(f.notLinked, "6")
			f.addEvents(feedEvent{ID: "e9", Type: evPatientLinked, PatientMisID: "6"})
			if err := c.Run(ctx, h); err != nil {
				t.Fatal(err)
			}
			sent = sent[:0]
			for _, v := range accepted[wireVisit](f, "/branch/visits")[2:] {
				sent = append(sent, v.MisID+" "+v.Status+" "+v.CancelReason)
			}
			slices.Sort(sent)
			if want := []string{"940 Отменена " + reasonDeletedInMIS, "941 Записан "}; !slices.Equal(sent, want) {
				t.Fatalf("sent on the new link: %v, want %v", sent, want)
			}
		})
	}
}

// TestNotLinkedWithoutLinkRequired: with link_required = false medsync sends every
// visit; ONDOC refusing one as patient_not_linked then means the setting does not
// match ONDOC's, and the visit goes to the dead letters with ONDOC's reason, where the
// operator sees it — it is not held out of sight.
func TestNotLinkedWithoutLinkRequired(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, map[string]string{"link_required": "false"})
	f.notLinked["6"] = "item"
	errs := c.Deliver(context.Background(), []connectors.Event{upsert(appt("960", "6", time.Now().Add(72*time.Hour), mapping.StatusBooked, ""), 1)})
	if !connectors.IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), "appointment 960") {
		t.Fatalf("visit refused as not linked with link_required = false: %v, want a permanent error naming it", errs[0])
	}
	if held, _ := c.store.isHeld(context.Background(), "960"); held {
		t.Error("the visit was held out of the operator's sight")
	}
}
