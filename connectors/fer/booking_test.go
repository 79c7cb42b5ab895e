package fer

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "medsync/connectors/file"
	"medsync/mapping"
	"medsync/mapping/convert"
	"medsync/mapping/demo"
)

// identify runs GetPatientInfo for p in a new session and returns the session.
func identify(t *testing.T, srv *server, p patient) string {
	t.Helper()
	session := newSession()
	_, got := srv.call(t, OpGetPatientInfo, patientInfoReq(session, p, true))
	if id := between(got, "<Patient_Id>", "</Patient_Id>"); id != p.id {
		t.Fatalf("GetPatientInfo for %s: %s", p.id, got)
	}
	return session
}

// TestConcurrentCreateOneSlot: fifty patients ask for the same slot at once; exactly one
// booking is written, the others are told the slot is taken — on each database.
func TestConcurrentCreateOneSlot(t *testing.T) {
	for _, dialect := range []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird} {
		t.Run(dialect, func(t *testing.T) {
			s := startStack(t, dialect, "")
			srv := s.server()
			doc := s.pickDoctor(t, "Europe/Moscow", 1)
			slot := doc.slots[0]
			pats := s.patients(t, 50)
			if len(pats) < 50 {
				t.Fatalf("only %d patients", len(pats))
			}
			sessions := make([]string, len(pats))
			for i, p := range pats {
				sessions[i] = identify(t, srv, p)
			}
			answers := make([]string, len(pats))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range pats {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					_, answers[i] = srv.call(t, OpCreateAppointment, createReqXML(sessions[i], slot.ID))
				}(i)
			}
			close(start)
			wg.Wait()
			recorded, busy := 0, 0
			var bodies []string
			for _, a := range answers {
				bodies = append(bodies, bodyOf(t, a))
				switch between(a, "<Status_Code>", "</Status_Code>") {
				case statusRecorded:
					recorded++
				case codeSlotTaken:
					busy++
				default:
					t.Errorf("unexpected answer: %s", a)
				}
			}
			if recorded != 1 || busy != len(pats)-1 {
				t.Errorf("%d recorded, %d told the slot is taken; want 1 and %d", recorded, busy, len(pats)-1)
			}
			var n int
			if err := s.app.DB.QueryRow(`SELECT COUNT(*) FROM SCHEDULE WHERE EXT_ID LIKE 'fer-%' AND DELETED = 0`).Scan(&n); err != nil || n != 1 {
				t.Errorf("the MIS holds %d ФЭР bookings (%v), want 1", n, err)
			}
			validate(t, bodies...)
		})
	}
}

// TestBookingReachesOtherChannels: a booking through ФЭР is committed and sent to the
// other connectors (here the file connector) as a busy slot and a visit within
// seconds, with no poll in between; a retried CreateAppointment returns the same
// booking; the cancellation frees the slot for everyone the same way.
func TestBookingReachesOtherChannels(t *testing.T) {
	s := startStack(t, demo.SQLite, "\n[connector.file]\npath = out/events.jsonl\nfsync = false\n")
	srv := s.server()
	polls := func() int {
		p, err := s.app.Store.Polls(context.Background(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return len(p)
	}
	for i := 0; i < 500 && polls() < 2; i++ { // Once, and Run's first poll
		time.Sleep(10 * time.Millisecond)
	}
	before := polls()
	doc := s.pickDoctor(t, "Asia/Yekaterinburg", 1)
	slot := doc.slots[0]
	session := identify(t, srv, s.patients(t, 1)[0])
	mark := len(lines(filepath.Join(filepath.Dir(s.cfg.File), "out", "events.jsonl")))
	_, first := srv.call(t, OpCreateAppointment, createReqXML(session, slot.ID))
	_, again := srv.call(t, OpCreateAppointment, createReqXML(session, slot.ID))
	book := between(first, "<Book_Id_Mis>", "</Book_Id_Mis>")
	if book == "" || !strings.Contains(first, "<Status_Code>RECORDED</Status_Code>") || between(again, "<Book_Id_Mis>", "</Book_Id_Mis>") != book {
		t.Fatalf("booking and its retry:\n%s\n%s", first, again)
	}
	if want := slot.Start.In(doc.zone).Format("2006-01-02T15:04:05") + "+05:00"; !strings.Contains(first, "<Visit_Time>"+want+"</Visit_Time>") {
		t.Errorf("Visit_Time is not the slot's time in Yekaterinburg (%s):\n%s", want, first)
	}
	out := filepath.Join(filepath.Dir(s.cfg.File), "out", "events.jsonl")
	waitFor(t, out, mark, func(l fileLine) bool {
		return l.Entity == mapping.EntitySlot && l.Key == slot.ID && !l.Data.Free
	}, "the slot as busy")
	waitFor(t, out, mark, func(l fileLine) bool {
		return l.Entity == mapping.EntityAppointment && l.Key == book && l.Data.Status == mapping.StatusBooked
	}, "the visit")
	_, sched := srv.call(t, OpGetScheduleInfo, scheduleReq(doc.snils, doc.oid, slot.Start.In(doc.zone).Format("2006-01-02"), slot.Start.In(doc.zone).Format("2006-01-02")))
	if strings.Contains(sched, slot.ID) {
		t.Errorf("the booked slot is still offered:\n%s", sched)
	}
	cancelReq := `<er:CancelAppointmentRequest><er:Book_Id_Mis>` + book + `</er:Book_Id_Mis><er:Canceled_Reason>CANCELED_BY_PATIENT</er:Canceled_Reason></er:CancelAppointmentRequest>`
	mark = len(lines(out))
	_, c1 := srv.call(t, OpCancelAppointment, cancelReq)
	if !strings.Contains(c1, "<Status_Code>CANCELED</Status_Code>") {
		t.Fatalf("cancel: %s", c1)
	}
	waitFor(t, out, mark, func(l fileLine) bool {
		return l.Entity == mapping.EntitySlot && l.Key == slot.ID && l.Data.Free
	}, "the slot free again")
	_, c2 := srv.call(t, OpCancelAppointment, cancelReq)
	if !strings.Contains(c2, "<Status_Code>CANCELED</Status_Code>") {
		t.Errorf("cancel again: %s", c2)
	}
	var reason string
	if err := s.app.DB.QueryRow(`SELECT r.TEXT FROM SCHEDULE s JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID WHERE s.SCHEDID = ?`, book).Scan(&reason); err != nil || reason == "" {
		t.Errorf("cancel reason in the MIS: %q %v", reason, err)
	}
	if n := polls(); n != before {
		t.Errorf("%d polls ran meanwhile: the change must not wait for one", n-before)
	}
	validate(t, bodyOf(t, first), bodyOf(t, again), bodyOf(t, c1), bodyOf(t, c2))
}

type fileLine struct {
	Entity string `json:"entity"`
	Key    string `json:"key"`
	Data   struct {
		Free   bool   `json:"free"`
		Status string `json:"status"`
	} `json:"data"`
}

// lines reads the file connector's output.
func lines(path string) []fileLine {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []fileLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l fileLine
		_ = json.Unmarshal(sc.Bytes(), &l)
		out = append(out, l)
	}
	return out
}

// waitFor waits up to 15 s for a line after the first skip lines of the file
// connector's output matching ok.
func waitFor(t *testing.T, path string, skip int, ok func(fileLine) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ls := lines(path); len(ls) > skip {
			for _, l := range ls[skip:] {
				if ok(l) {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the file connector never got %s", what)
}

// TestCreateOutsideShift: a slot still offered from the synced state whose shift the
// MIS no longer has (deleted after the last poll) is refused inside the MIS
// transaction with OUTSIDE_SCHEDULE; a slot already booked by the registry meanwhile
// is refused with SLOT_BUSY.
func TestCreateOutsideShift(t *testing.T) {
	s := startStack(t, demo.SQLite, "")
	srv := s.server()
	doc := s.pickDoctor(t, "Europe/Moscow", 2)
	slot := doc.slots[0]
	local := slot.Start.In(doc.zone)
	day := convert.ToOLE(convert.FromTime(local))
	res, err := s.app.DB.Exec(`DELETE FROM DOCTSHIFT WHERE DOCT_ID = ? AND WDATE >= ? AND WDATE < ?`, slot.DoctorID, day, day+1)
	if n, _ := res.RowsAffected(); err != nil || n == 0 {
		t.Fatalf("deleting the shift: %v (%d rows)", err, n)
	}
	session := identify(t, srv, s.patients(t, 1)[0])
	_, got := srv.call(t, OpCreateAppointment, createReqXML(session, slot.ID))
	if !strings.Contains(got, "<Status_Code>"+codeOutsideShift+"</Status_Code>") {
		t.Errorf("slot of a deleted shift: %s", got)
	}
	// The registry books another day's slot; ФЭР still offers it until the next poll.
	var other *mapping.Slot
	for _, sl := range doc.slots {
		if sl.Start.In(doc.zone).YearDay() != local.YearDay() {
			other = sl
			break
		}
	}
	if other == nil {
		t.Fatal("no slot on another day")
	}
	doctor, _ := strconv.Atoi(other.DoctorID)
	if _, err := demo.AddAppointment(context.Background(), s.app.DB, demo.SQLite, demo.NewAppointment{DoctorID: doctor, Start: other.Start.In(doc.zone)}); err != nil {
		t.Fatal(err)
	}
	_, taken := srv.call(t, OpCreateAppointment, createReqXML(session, other.ID))
	if !strings.Contains(taken, "<Status_Code>"+codeSlotTaken+"</Status_Code>") {
		t.Errorf("slot booked at the registry meanwhile: %s", taken)
	}
	validate(t, bodyOf(t, got), bodyOf(t, taken))
}

// TestSessionSurvivesRestart: the service is restarted (an update, a crash) while a
// patient books on Госуслуги — between GetPatientInfo and CreateAppointment. The
// session's patient is in the state file, so the booking goes through; a retry of the
// same call after another restart returns the same booking, not a second one.
func TestSessionSurvivesRestart(t *testing.T) {
	s := startStack(t, demo.SQLite, "")
	doc := s.pickDoctor(t, "Europe/Moscow", 1)
	session := identify(t, s.server(), s.patients(t, 1)[0])
	s.restart(t)
	_, got := s.server().call(t, OpCreateAppointment, createReqXML(session, doc.slots[0].ID))
	book := between(got, "<Book_Id_Mis>", "</Book_Id_Mis>")
	if between(got, "<Status_Code>", "</Status_Code>") != statusRecorded || book == "" {
		t.Fatalf("CreateAppointment after a restart: %s", got)
	}
	s.restart(t)
	_, again := s.server().call(t, OpCreateAppointment, createReqXML(session, doc.slots[0].ID))
	if b := between(again, "<Book_Id_Mis>", "</Book_Id_Mis>"); b != book {
		t.Fatalf("the same CreateAppointment after another restart answered %s, want booking %s", again, book)
	}
}

// TestBookedRememberedOnDisk: a booking made here is found by CancelAppointment before
// a poll has read it, also after the state file was closed and opened again.
func TestBookedRememberedOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fer.db")
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ss, err := openSessions(path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ss.setPatient(ctx, "AAAA-1", "17", now); err != nil {
		t.Fatal(err)
	}
	if err := ss.remember(ctx, "501", bookedEntry{extID: "fer-1", start: now.Add(48 * time.Hour), slot: "s1"}, now); err != nil {
		t.Fatal(err)
	}
	if err := ss.close(); err != nil {
		t.Fatal(err)
	}
	if ss, err = openSessions(path, time.Hour); err != nil {
		t.Fatal(err)
	}
	defer ss.close()
	if p, err := ss.patient(ctx, "aaaa-1", now.Add(59*time.Minute)); err != nil || p != "17" {
		t.Fatalf("session's patient after reopening = %q (%v), want 17 (Session_ID case does not matter)", p, err)
	}
	if p, _ := ss.patient(ctx, "AAAA-1", now.Add(61*time.Minute)); p != "" {
		t.Fatalf("an expired session still names patient %q", p)
	}
	b, ok, err := ss.bookedAs(ctx, "501")
	if err != nil || !ok || b.extID != "fer-1" || !b.start.Equal(now.Add(48*time.Hour)) || b.slot != "s1" {
		t.Fatalf("booking after reopening = %+v %v (%v)", b, ok, err)
	}
	// A later booking forgets the ones whose visit passed.
	if err := ss.remember(ctx, "502", bookedEntry{extID: "fer-2", start: now.Add(72 * time.Hour), slot: "s2"}, now.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := ss.bookedAs(ctx, "501"); ok {
		t.Fatal("a booking whose visit passed is still kept")
	}
}
