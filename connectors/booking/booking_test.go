package booking

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
)

// testHost is the engine's side for the booking path: the demo profile's writer, the
// synced records a test gives, and a record of refresh requests.
type testHost struct {
	log     *slog.Logger
	logs    *bytes.Buffer
	mis     connectors.MISWriter
	records map[string]map[string]any // entity → key → record

	mu        sync.Mutex
	refreshed []connectors.RefreshRequest
}

func (h *testHost) Logger() *slog.Logger      { return h.log }
func (h *testHost) StateDir() string          { return "" }
func (h *testHost) MIS() connectors.MISWriter { return h.mis }
func (h *testHost) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	if _, ok := h.records[entity]; !ok {
		return fmt.Errorf("the state store keeps no %s data", entity)
	}
	for k, r := range h.records[entity] {
		data, _ := json.Marshal(r)
		if err := fn(k, data); err != nil {
			return err
		}
	}
	return nil
}
func (h *testHost) Refresh(ctx context.Context, r connectors.RefreshRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refreshed = append(h.refreshed, r)
	return nil
}

// fixture is a seeded demo MIS.
type fixture struct {
	db                         *sql.DB
	dialect                    string
	doctor, hidden, patient    int
	service                    int
	host                       *testHost
	msk                        *time.Location
	today                      time.Time // the demo's "today", 00:00 in Moscow
	now                        time.Time // the booker's clock
	shiftDay                   time.Time // a day ahead on which doctor has a shift
	shiftStart, shiftEnd       time.Duration
	breakStart, breakEnd       time.Duration
	shiftBranch, anotherBranch int
}

var testToday = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, dialect string) *fixture {
	t.Helper()
	ctx := context.Background()
	db, _, _, _ := demo.TestMIS(t, dialect, demo.Sizes{Branches: 2, Doctors: 4, Patients: 20, Appointments: 10, Days: 20, Today: testToday, Seed: 7})
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	w := mapping.NewWriter(db, dialect, p)
	if w == nil {
		t.Fatalf("the demo profile has no write statements for %s", dialect)
	}
	msk, _ := time.LoadLocation("Europe/Moscow")
	f := &fixture{db: db, dialect: dialect, msk: msk, today: time.Date(2026, 11, 20, 0, 0, 0, 0, msk)}
	f.now = f.today.Add(8 * time.Hour)
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
	f.doctor, f.hidden = docs[0], docs[1]
	for id, hide := range map[int]int{f.doctor: 0, f.hidden: 1} {
		if err := demo.UpdateRow(ctx, db, dialect, "DOCTORS", id, map[string]any{"ENABLED": 1, "HIDEINTALONS": hide}); err != nil {
			t.Fatal(err)
		}
	}
	f.patient = ints("SELECT PCODE FROM CLIENTS WHERE DELETED = 0 ORDER BY PCODE")[0]
	f.service = ints("SELECT SERV_ID FROM SERVICES ORDER BY SERV_ID")[0]
	f.setShifts(t)
	var logs bytes.Buffer
	f.host = &testHost{log: slog.New(slog.NewTextHandler(&logs, nil)), logs: &logs, mis: w,
		records: map[string]map[string]any{mapping.EntityBranch: {}}}
	return f
}

// setShifts gives the doctor one known shift: 3 days ahead, 14:00–20:00 with a break
// 16:00–16:30, in the doctor's second branch; the other seeded shifts of the doctor
// and the appointments on that day are removed.
func (f *fixture) setShifts(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	f.shiftDay = f.today.AddDate(0, 0, 3)
	f.shiftStart, f.shiftEnd = 14*time.Hour, 20*time.Hour
	f.breakStart, f.breakEnd = 16*time.Hour, 16*time.Hour+30*time.Minute
	var branches []int
	rows, err := f.db.QueryContext(ctx, "SELECT FILIAL_ID FROM FILIALS ORDER BY FILIAL_ID")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		branches = append(branches, n)
	}
	rows.Close()
	var home int
	if err := f.db.QueryRow(fmt.Sprintf("SELECT FILIAL_ID FROM DOCTORS WHERE DOCT_ID = %d", f.doctor)).Scan(&home); err != nil {
		t.Fatal(err)
	}
	f.anotherBranch = home
	f.shiftBranch = branches[0]
	if f.shiftBranch == home {
		f.shiftBranch = branches[1]
	}
	day := oleDay(f.shiftDay)
	for _, q := range []string{
		fmt.Sprintf("DELETE FROM DOCTSHIFT WHERE DOCT_ID = %d", f.doctor),
		fmt.Sprintf("DELETE FROM SCHEDSERV WHERE SCHEDID IN (SELECT SCHEDID FROM SCHEDULE WHERE DOCT_ID = %d)", f.doctor),
		fmt.Sprintf("DELETE FROM SCHEDULE WHERE DOCT_ID = %d", f.doctor),
		fmt.Sprintf("INSERT INTO DOCTSHIFT (SHIFT_ID, DOCT_ID, FILIAL_ID, WDATE, BEGHOUR, ENDHOUR, BREAK_BEG, BREAK_END, ROOM, MODIFYDATE) "+
			"VALUES (900001, %d, %d, %v, %v, %v, %v, %v, '101', %v)", f.doctor, f.shiftBranch, day,
			frac(f.shiftStart), frac(f.shiftEnd), frac(f.breakStart), frac(f.breakEnd), day-3),
	} {
		if _, err := f.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func oleDay(t time.Time) int {
	return int(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

func frac(d time.Duration) float64 { return float64(d) / float64(24*time.Hour) }

func (f *fixture) booker(o Options) *Booker {
	o.Zone = f.msk
	if o.Now == nil {
		o.Now = func() time.Time { return f.now }
	}
	return New(f.host, o)
}

// at is a time on the shift day, in Moscow.
func (f *fixture) at(d time.Duration) time.Time { return f.shiftDay.Add(d) }

func (f *fixture) req(ext string, start time.Time, minutes int) Request {
	return Request{Channel: "test", ExtID: ext, DoctorID: fmt.Sprint(f.doctor), PatientID: fmt.Sprint(f.patient),
		BranchID: fmt.Sprint(f.shiftBranch), ServiceIDs: []string{fmt.Sprint(f.service)},
		Start: start, End: start.Add(time.Duration(minutes) * time.Minute), Comment: "записался онлайн"}
}

func (f *fixture) count(t *testing.T, where string) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow("SELECT COUNT(*) FROM SCHEDULE WHERE " + where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func refusalCode(err error) string {
	var ref *Refusal
	if errors.As(err, &ref) {
		return ref.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

var dialects = []string{demo.SQLite, demo.Postgres, demo.MySQL, demo.Firebird}

func TestBookAndCancel(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, dialect)
			b := f.booker(Options{})
			r1 := f.req("b-1", f.at(14*time.Hour), 30)
			res, err := b.Book(ctx, r1)
			if err != nil || res.AppointmentID == "" || res.Existing {
				t.Fatalf("book: %+v %v", res, err)
			}
			again, err := b.Book(ctx, r1)
			if err != nil || again.AppointmentID != res.AppointmentID || !again.Existing {
				t.Fatalf("the same booking again: %+v %v, want %s existing", again, err, res.AppointmentID)
			}
			cases := []struct {
				name string
				r    Request
				code string
			}{
				{"overlap", f.req("b-2", f.at(14*time.Hour+10*time.Minute), 30), CodeSlotTaken},
				{"hidden doctor", func() Request { r := f.req("b-3", f.at(15*time.Hour), 30); r.DoctorID = fmt.Sprint(f.hidden); return r }(), CodeDoctorNotBookable},
				{"unknown doctor", func() Request { r := f.req("b-4", f.at(15*time.Hour), 30); r.DoctorID = "99999999"; return r }(), CodeDoctorNotBookable},
				{"unknown patient", func() Request { r := f.req("b-5", f.at(15*time.Hour), 30); r.PatientID = "99999999"; return r }(), CodePatientNotFound},
				{"no patient", func() Request { r := f.req("b-6", f.at(15*time.Hour), 30); r.PatientID = ""; return r }(), CodePatientNotFound},
				{"end before start", f.req("b-7", f.at(15*time.Hour), -30), CodeInvalid},
				{"no id", f.req("", f.at(15*time.Hour), 30), CodeInvalid},
				{"id too long", f.req(strings.Repeat("x", 65), f.at(15*time.Hour), 30), CodeInvalid},
			}
			for _, c := range cases {
				if _, err := b.Book(ctx, c.r); refusalCode(err) != c.code {
					t.Errorf("%s: %v, want refusal %s", c.name, err, c.code)
				}
			}
			if n := f.count(t, fmt.Sprintf("DOCT_ID IN (%d, %d) AND DELETED = 0", f.doctor, f.hidden)); n != 1 {
				t.Errorf("%d live appointments of the doctors, want 1 (refusals write nothing)", n)
			}
			next, err := b.Book(ctx, f.req("b-8", f.at(14*time.Hour+30*time.Minute), 30))
			if err != nil {
				t.Fatalf("the next slot: %v", err)
			}
			if len(f.host.refreshed) != 2 || f.host.refreshed[0].DoctorID != fmt.Sprint(f.doctor) ||
				!f.host.refreshed[0].From.Equal(r1.Start) || f.host.refreshed[0].AppointmentIDs[0] != res.AppointmentID {
				t.Errorf("refresh requests: %+v", f.host.refreshed)
			}

			// Cancel by the channel's id, twice.
			c1, err := b.Cancel(ctx, CancelRequest{Channel: "test", ExtID: "b-1", Reason: ReasonPatient})
			if err != nil || c1.AppointmentID != res.AppointmentID || c1.Existing {
				t.Fatalf("cancel: %+v %v", c1, err)
			}
			if c2, err := b.Cancel(ctx, CancelRequest{Channel: "test", ExtID: "b-1"}); err != nil || !c2.Existing {
				t.Errorf("cancel again: %+v %v, want existing", c2, err)
			}
			var reason string
			if err := f.db.QueryRow("SELECT r.TEXT FROM SCHEDULE s JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID WHERE s.EXT_ID = 'b-1' AND s.DELETED = 1").Scan(&reason); err != nil || reason != "Пациент отменил запись" {
				t.Errorf("cancelled row: reason %q, %v", reason, err)
			}
			// By the MIS id (ФЭР's Book_Id_Mis), with another reason.
			if c3, err := b.Cancel(ctx, CancelRequest{Channel: "test", AppointmentID: next.AppointmentID, Reason: ReasonDoctor}); err != nil || c3.Existing || c3.AppointmentID != next.AppointmentID {
				t.Errorf("cancel by id: %+v %v", c3, err)
			}
			if err := f.db.QueryRow("SELECT r.TEXT FROM SCHEDULE s JOIN DELREASONS r ON r.REASON_ID = s.DEL_REASON_ID WHERE s.EXT_ID = 'b-8' AND s.DELETED = 1").Scan(&reason); err != nil || reason != "Болезнь врача" {
				t.Errorf("cancelled by id: reason %q, %v", reason, err)
			}
			for _, c := range []CancelRequest{{ExtID: "nope"}, {AppointmentID: "99999999"}} {
				if _, err := b.Cancel(ctx, c); refusalCode(err) != CodeNotFound {
					t.Errorf("cancel %+v: %v, want not_found", c, err)
				}
			}
			if _, err := b.Cancel(ctx, CancelRequest{ExtID: "b-8", Reason: "whim"}); refusalCode(err) != CodeInvalid {
				t.Errorf("unknown reason: %v", err)
			}
			// The cancelled time is free again.
			if _, err := b.Book(ctx, f.req("b-9", f.at(14*time.Hour), 30)); err != nil {
				t.Errorf("booking the cancelled time: %v", err)
			}
			if len(f.host.refreshed) != 5 {
				t.Errorf("%d refresh requests, want 5 (3 bookings, 2 cancellations)", len(f.host.refreshed))
			}
		})
	}
}

// Fifty bookings of one slot at once: exactly one wins, the others are told the slot is taken.
func TestBookSameSlotConcurrent(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			b := f.booker(Options{})
			const n = 20
			errs := make(chan error, n)
			for i := range n {
				go func() {
					_, err := b.Book(context.Background(), f.req(fmt.Sprintf("race-%d", i), f.at(15*time.Hour), 30))
					errs <- err
				}()
			}
			won := 0
			for range n {
				err := <-errs
				switch code := refusalCode(err); {
				case err == nil:
					won++
				case code == CodeSlotTaken:
				case strings.HasPrefix(code, "error:"):
					t.Logf("one side fails and would retry: %v", err) // lock timeout, deadlock victim
				default:
					t.Errorf("loser: %v", err)
				}
			}
			if won != 1 {
				t.Errorf("%d bookings won, want 1", won)
			}
			if c := f.count(t, "EXT_ID LIKE 'race-%' AND DELETED = 0"); c != 1 {
				t.Errorf("%d rows for one slot, want 1", c)
			}
		})
	}
}

func TestDemoProfileDeclaresBookingStatements(t *testing.T) {
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		t.Fatal(err)
	}
	st := slotTime{loc: time.UTC, start: time.Date(2027, 1, 5, 10, 0, 0, 0, time.UTC), end: time.Date(2027, 1, 5, 10, 30, 0, 0, time.UTC)}
	params := bookParams(Request{ExtID: "x", DoctorID: "1", PatientID: "2", BranchID: "1", ServiceIDs: []string{"3"}}, st, st.start, "")
	for k, v := range map[string]any{"appointment_id": 1, "reason_code": ReasonPatient, "reason_text": "Пациент отменил запись"} {
		params[k] = v
	}
	for _, dialect := range mapping.Dialects {
		for _, name := range Statements() {
			q, ok := p.Statement(dialect, name)
			if !ok {
				t.Errorf("demo profile: no %s for %s", name, dialect)
				continue
			}
			sqlText, _, err := mapping.RenderSQL(dialect, q, params)
			if err != nil {
				t.Errorf("%s %s: %v", dialect, name, err)
			}
			if dialect == mapping.DialectSQLServer && (!strings.Contains(sqlText, "@") || strings.Contains(withoutComments(sqlText), " :")) {
				t.Errorf("%s not rendered with @name: %s", name, sqlText)
			}
		}
	}
}

func withoutComments(q string) string {
	var out []string
	for _, l := range strings.Split(q, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
