package ondoc

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/connectors/booking"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

// misFixture is a small seeded demo MIS with the demo profile's writer.
type misFixture struct {
	db       *sql.DB
	dialect  string
	doctor   int // bookable
	hidden   int // HIDEINTALONS = 1
	patient  int
	service  int
	writerOn func() *host
}

func newMIS(t *testing.T, dialect string) *misFixture {
	t.Helper()
	ctx := context.Background()
	sizes := demo.Sizes{Branches: 1, Doctors: 4, Patients: 20, Appointments: 10, Days: 10,
		Today: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), Seed: 7}
	db, _, _, _ := demo.TestMIS(t, dialect, sizes)
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	w := mapping.NewWriter(db, dialect, p)
	if w == nil || !w.Has("write.book_check") {
		t.Fatalf("the demo profile has no write.book_check for %s", dialect)
	}
	m := &misFixture{db: db, dialect: dialect}
	ints := func(q string) []int {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	docs := ints("SELECT DOCT_ID FROM DOCTORS ORDER BY DOCT_ID")
	m.doctor, m.hidden = docs[0], docs[1]
	for id, hide := range map[int]int{m.doctor: 0, m.hidden: 1} {
		if err := demo.UpdateRow(ctx, db, dialect, "DOCTORS", id, map[string]any{"ENABLED": 1, "HIDEINTALONS": hide}); err != nil {
			t.Fatal(err)
		}
	}
	// Both doctors work 09:00–18:00 in branch 1 on the days the tests book.
	for i, day := range []time.Time{time.Date(2027, 12, 15, 0, 0, 0, 0, time.UTC), time.Date(2027, 12, 16, 0, 0, 0, 0, time.UTC)} {
		for j, doc := range []int{m.doctor, m.hidden} {
			q := fmt.Sprintf("INSERT INTO DOCTSHIFT (SHIFT_ID, DOCT_ID, FILIAL_ID, WDATE, BEGHOUR, ENDHOUR, ROOM, MODIFYDATE) VALUES (%d, %d, 1, %v, %v, %v, '1', 46000)",
				800000+i*10+j, doc, convert.ToOLE(convert.FromTime(day)), 9.0/24, 18.0/24)
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	m.patient = ints("SELECT PCODE FROM CLIENTS WHERE DELETED = 0 ORDER BY PCODE")[0]
	m.service = ints("SELECT SERV_ID FROM SERVICES ORDER BY SERV_ID")[0]
	m.writerOn = func() *host {
		return &host{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), dir: t.TempDir(), mis: w}
	}
	return m
}

func (m *misFixture) count(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := m.db.QueryRow("SELECT COUNT(*) FROM SCHEDULE WHERE " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func bookingEv(id string, doctor, patient, service int, start time.Time, minutes int) feedEvent {
	return feedEvent{ID: "ev-" + id, Type: evBookingCreated, Booking: &feedBooking{
		BookingID: id, PatientMisID: fmt.Sprint(patient), DoctorMisID: fmt.Sprint(doctor), FilialMisID: "1",
		ServiceMisIDs: []string{fmt.Sprint(service)}, Start: convert.FormatTime(start),
		End: convert.FormatTime(start.Add(time.Duration(minutes) * time.Minute)), Comment: "записался в ONDOC"}}
}

func TestInboundBookings(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			m := newMIS(t, dialect)
			f := newFake(t)
			c := newConn(t, f, nil)
			msk := time.FixedZone("+03:00", 3*3600)
			at := time.Date(2027, 12, 15, 10, 0, 0, 0, msk)
			f.addEvents(
				bookingEv("ond-1", m.doctor, m.patient, m.service, at, 30),
				bookingEv("ond-1", m.doctor, m.patient, m.service, at, 30),                     // ONDOC sends it twice
				bookingEv("ond-2", m.doctor, m.patient, m.service, at.Add(10*time.Minute), 30), // same slot: taken
				bookingEv("ond-3", m.hidden, m.patient, m.service, at, 30),                     // hidden doctor
				bookingEv("ond-4", m.doctor, 99999999, m.service, at.Add(2*time.Hour), 30),     // unknown patient
				bookingEv("ond-5", m.doctor, m.patient, m.service, at.Add(30*time.Minute), 30), // the next slot: free
			)
			h := m.writerOn()
			if err := c.Run(ctx, h); err != nil {
				t.Fatal(err)
			}
			ans := f.gotAnswers()
			want := []struct{ id, result, reason string }{
				{"ond-1", answerConfirmed, ""}, {"ond-1", answerConfirmed, ""}, {"ond-2", answerRejected, reasonSlotTaken},
				{"ond-3", answerRejected, reasonDoctorNotBookable}, {"ond-4", answerRejected, reasonPatientNotFound},
				{"ond-5", answerConfirmed, ""},
			}
			if len(ans) != len(want) {
				t.Fatalf("answers: %+v", ans)
			}
			for i, w := range want {
				if ans[i].BookingID != w.id || ans[i].Result != w.result || ans[i].ReasonCode != w.reason {
					t.Errorf("answer %d: %+v, want %+v", i, ans[i], w)
				}
			}
			if ans[0].MisVisitID == "" || ans[0].MisVisitID != ans[1].MisVisitID {
				t.Errorf("the same booking got answers %q and %q", ans[0].MisVisitID, ans[1].MisVisitID)
			}
			if n := m.count(t, "EXT_ID = 'ond-1'"); n != 1 {
				t.Errorf("ond-1 is %d rows in SCHEDULE, want 1", n)
			}
			if n := m.count(t, "EXT_ID IN ('ond-2', 'ond-3', 'ond-4')"); n != 0 {
				t.Errorf("rejected bookings wrote %d rows", n)
			}
			var wdate, bh, eh float64
			var source, deleted, pcode int
			row := m.db.QueryRow("SELECT WDATE, BHOUR, EHOUR, SOURCE, DELETED, PCODE FROM SCHEDULE WHERE EXT_ID = 'ond-1'")
			if err := row.Scan(&wdate, &bh, &eh, &source, &deleted, &pcode); err != nil {
				t.Fatal(err)
			}
			if wdate != convert.ToOLE(convert.Date{Year: 2027, Month: time.December, Day: 15}) || math.Abs(bh-10.0/24) > 1e-9 || math.Abs(eh-10.5/24) > 1e-9 ||
				source != 2 || deleted != 0 || pcode != m.patient {
				t.Errorf("row: WDATE %v BHOUR %v EHOUR %v SOURCE %d DELETED %d PCODE %d", wdate, bh, eh, source, deleted, pcode)
			}
			var services int
			if err := m.db.QueryRow("SELECT COUNT(*) FROM SCHEDSERV s JOIN SCHEDULE a ON a.SCHEDID = s.SCHEDID WHERE a.EXT_ID = 'ond-1'").Scan(&services); err != nil || services != 1 {
				t.Errorf("SCHEDSERV rows for ond-1: %d %v", services, err)
			}

			// A fresh state file (reinstalled service): the MIS row still answers it.
			c2 := newConn(t, f, nil)
			f.addEvents(bookingEv("ond-1", m.doctor, m.patient, m.service, at, 30))
			if err := c2.Run(ctx, m.writerOn()); err != nil {
				t.Fatal(err)
			}
			ans = f.gotAnswers()
			if last := ans[len(ans)-1]; last.BookingID != "ond-1" || last.Result != answerConfirmed || last.MisVisitID != ans[0].MisVisitID {
				t.Errorf("after reinstall: %+v, want the first answer %+v", last, ans[0])
			}
			if n := m.count(t, "EXT_ID = 'ond-1'"); n != 1 {
				t.Errorf("ond-1 is %d rows after reinstall, want 1", n)
			}

			// The patient cancels in ONDOC.
			f.addEvents(feedEvent{ID: "ev-c1", Type: evBookingCancelled, Booking: &feedBooking{BookingID: "ond-1", Reason: "не смогу прийти"}})
			if err := c.Run(ctx, h); err != nil {
				t.Fatal(err)
			}
			var reason string
			err := m.db.QueryRow("SELECT r.TEXT FROM SCHEDULE s JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID WHERE s.EXT_ID = 'ond-1' AND s.DELETED = 1").Scan(&reason)
			if err != nil || reason != booking.DefaultReasonText[booking.ReasonPatient] {
				t.Errorf("cancelled row: reason %q, %v", reason, err)
			}
		})
	}
}

// Two connectors (two medsync instances, or a retry racing the first attempt) book the
// same slot at once: exactly one wins.
func TestInboundSameSlotConcurrent(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			m := newMIS(t, dialect)
			at := time.Date(2027, 12, 16, 11, 0, 0, 0, time.FixedZone("+03:00", 3*3600))
			fa, fb := newFake(t), newFake(t)
			fa.addEvents(bookingEv("race-a", m.doctor, m.patient, m.service, at, 30))
			fb.addEvents(bookingEv("race-b", m.doctor, m.patient, m.service, at, 30))
			ca, cb := newConn(t, fa, nil), newConn(t, fb, nil)
			errs := make(chan error, 2)
			go func() { errs <- ca.Run(context.Background(), m.writerOn()) }()
			go func() { errs <- cb.Run(context.Background(), m.writerOn()) }()
			var failed int
			for range 2 {
				if err := <-errs; err != nil {
					failed++ // a lock timeout / deadlock victim retries on the next poll
					t.Logf("one side will retry: %v", err)
				}
			}
			if n := m.count(t, "EXT_ID IN ('race-a', 'race-b') AND DELETED = 0"); n != 1 {
				t.Fatalf("%d rows for one slot, want 1", n)
			}
			confirmed := 0
			for _, a := range append(fa.gotAnswers(), fb.gotAnswers()...) {
				if a.Result == answerConfirmed {
					confirmed++
				} else if a.ReasonCode != reasonSlotTaken {
					t.Errorf("loser answered %+v", a)
				}
			}
			if confirmed != 1 {
				t.Errorf("%d confirmations, want 1", confirmed)
			}
		})
	}
}

func TestInboundWithoutWriteStatements(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	var logs bytes.Buffer
	h := &host{log: slog.New(slog.NewTextHandler(&logs, nil)), dir: t.TempDir()}
	at := time.Date(2027, 12, 15, 10, 0, 0, 0, time.UTC)
	f.addEvents(bookingEv("x-1", 1, 1, 1, at, 30), bookingEv("x-2", 1, 1, 1, at.Add(time.Hour), 30))
	for range 2 {
		if err := c.Run(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "unsupported for this MIS profile"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, logs.String())
	}
	if len(f.gotAnswers()) != 0 {
		t.Errorf("answered without writing: %+v", f.gotAnswers())
	}
}

func TestInboundIntervalAndCursor(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, map[string]string{"inbound_interval": "1h"})
	h := &host{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), dir: t.TempDir()}
	for i := range 250 {
		f.addEvents(feedEvent{ID: fmt.Sprint(i), Type: evPatientLinked, PatientMisID: fmt.Sprint(1000 + i)})
	}
	for range 2 {
		if err := c.Run(context.Background(), h); err != nil {
			t.Fatal(err)
		}
	}
	var pulls int
	for _, r := range f.requests() {
		if r.Path == "/branch/events" {
			pulls++
		}
	}
	if pulls != 3 { // 100 + 100 + 50 in the first Run, none in the second (inside 1h)
		t.Errorf("%d feed pulls, want 3", pulls)
	}
	if cur, _ := c.store.get(context.Background(), kvCursor); cur != "250" {
		t.Errorf("cursor %q, want 250", cur)
	}
	if ok, _ := c.store.isLinked(context.Background(), "1249"); !ok {
		t.Error("last linked patient not recorded")
	}
}

// TestInboundHonoursRetryAfter: ONDOC answers the feed with 429 and Retry-After; the
// next Runs (every poll) do not pull it again before that moment — held visits still
// go out — and the first one after it does.
func TestInboundHonoursRetryAfter(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	now := time.Now()
	c.now = func() time.Time { return now }
	h := &host{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), dir: t.TempDir()}
	f.addEvents(feedEvent{ID: "1", Type: evPatientLinked, PatientMisID: "77"})
	pulls := func() (n int) {
		for _, r := range f.requests() {
			if r.Path == "/branch/events" {
				n++
			}
		}
		return n
	}
	f.failNext(1, 429, "120")
	if err := c.Run(context.Background(), h); err == nil || connectors.RetryAfter(err) != 120*time.Second {
		t.Fatalf("Run on a 429: %v, want a transient error with Retry-After 120 s", err)
	}
	before := pulls()
	now = now.Add(60 * time.Second)
	if err := c.Run(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if pulls() != before {
		t.Fatal("the feed was pulled again before ONDOC's Retry-After")
	}
	now = now.Add(61 * time.Second)
	if err := c.Run(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if pulls() != before+1 {
		t.Fatalf("feed pulls after Retry-After: %d, want %d", pulls(), before+1)
	}
	if ok, _ := c.store.isLinked(context.Background(), "77"); !ok {
		t.Error("the link notice was not applied once the feed was pulled")
	}
}
