package booking

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"medsync/mapping"
)

// Hole 9.10: a booking must lie inside the doctor's bookable time. The fixture's
// doctor works 14:00–20:00 with a break 16:00–16:30, three days ahead, in one branch;
// the host keeps no synced slots, so every answer here comes from the MIS's own check
// inside the booking transaction.
func TestScheduleChecks(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, dialect)
			b := f.booker(Options{DaysAhead: 14, CutOff: time.Hour})
			y := func(year int) time.Time { return time.Date(year, 1, 10, 14, 0, 0, 0, f.msk) }
			home := func(r Request) Request { r.BranchID = fmt.Sprint(f.anotherBranch); return r }
			cases := []struct {
				name string
				r    Request
				code string
			}{
				{"03:00, the shift is 14–20", f.req("s-1", f.at(3*time.Hour), 30), CodeOutsideSchedule},
				{"1900", f.req("s-2", y(1900), 30), CodeOutOfWindow},
				{"9999", f.req("s-3", y(9999), 30), CodeOutOfWindow},
				{"a day without a shift", f.req("s-4", f.at(24*time.Hour+15*time.Hour), 30), CodeOutsideSchedule},
				{"in the break", f.req("s-5", f.at(16*time.Hour), 30), CodeOutsideSchedule},
				{"into the break", f.req("s-6", f.at(15*time.Hour+45*time.Minute), 30), CodeOutsideSchedule},
				{"past the shift's end", f.req("s-7", f.at(19*time.Hour+45*time.Minute), 30), CodeOutsideSchedule},
				{"before the shift", f.req("s-8", f.at(13*time.Hour+45*time.Minute), 30), CodeOutsideSchedule},
				{"in the past", f.req("s-9", f.today.Add(-24*time.Hour+15*time.Hour), 30), CodeInPast},
				{"inside the cut-off", f.req("s-10", f.now.Add(30*time.Minute), 30), CodeInPast},
				{"past the sync window", f.req("s-11", f.today.AddDate(0, 0, 20).Add(15*time.Hour), 30), CodeOutOfWindow},
				{"a branch the doctor has no shift in", home(f.req("s-12", f.at(15*time.Hour), 30)), CodeOutsideSchedule},
				{"across midnight", f.req("s-13", f.at(23*time.Hour+30*time.Minute), 60), CodeInvalid},
			}
			for _, c := range cases {
				if _, err := b.Book(ctx, c.r); refusalCode(err) != c.code {
					t.Errorf("%s: %v, want refusal %s", c.name, err, c.code)
				}
			}
			if n := f.count(t, fmt.Sprintf("DOCT_ID = %d", f.doctor)); n != 0 {
				t.Fatalf("refused bookings wrote %d rows", n)
			}
			for _, ok := range []Request{
				f.req("ok-1", f.at(14*time.Hour), 30),                // the shift's first slot
				f.req("ok-2", f.at(15*time.Hour+30*time.Minute), 30), // up to the break
				f.req("ok-3", f.at(16*time.Hour+30*time.Minute), 30), // right after it
				f.req("ok-4", f.at(19*time.Hour+30*time.Minute), 30), // the shift's last slot
			} {
				if _, err := b.Book(ctx, ok); err != nil {
					t.Errorf("%s at %s: %v", ok.ExtID, ok.Start.Format("15:04"), err)
				}
			}
		})
	}
}

// A 3,000,000-character comment is cut to what the MIS column takes (the demo's
// book_insert declares "-- limit :comment 500"), on a character boundary; the booking
// is taken.
func TestLongCommentIsCut(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			b := f.booker(Options{})
			r := f.req("long", f.at(17*time.Hour), 30)
			r.Comment = strings.Repeat("ж", 3_000_000)
			if _, err := b.Book(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := f.db.QueryRow("SELECT COMMENT FROM SCHEDULE WHERE EXT_ID = 'long'").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if utf8.RuneCountInString(got) != 500 || strings.Trim(got, "ж") != "" {
				t.Errorf("stored a comment of %d characters, want 500", utf8.RuneCountInString(got))
			}
			if !strings.Contains(f.host.logs.String(), "comment cut") {
				t.Errorf("the cut is not logged:\n%s", f.host.logs.String())
			}
		})
	}
}

func TestCapComment(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
		cut  bool
	}{
		{"абв", 5, "абв", false}, {"абвгд", 5, "абвгд", false}, {"абвгде", 5, "абвгд", true}, {"abc", 0, "abc", false},
	} {
		if got, cut := capComment(c.in, c.max); got != c.want || cut != c.cut {
			t.Errorf("capComment(%q, %d) = %q %v", c.in, c.max, got, cut)
		}
	}
}

// Trap 12.3: the doctor works in a branch other than the one on their card; the
// booking lands in the branch of the booked shift, with the booked service, whether
// the channel names the branch or not.
func TestBranchAndServiceReachTheInsert(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, dialect)
			if f.shiftBranch == f.anotherBranch {
				t.Fatal("fixture: the shift must be in another branch than the doctor's card")
			}
			b := f.booker(Options{})
			named := f.req("br-1", f.at(14*time.Hour), 30)
			unnamed := f.req("br-2", f.at(15*time.Hour), 30)
			unnamed.BranchID = ""
			for _, r := range []Request{named, unnamed} {
				if _, err := b.Book(ctx, r); err != nil {
					t.Fatalf("%s: %v", r.ExtID, err)
				}
				var branch, service int
				if err := f.db.QueryRow("SELECT s.FILIAL_ID, v.SERV_ID FROM SCHEDULE s JOIN SCHEDSERV v ON v.SCHEDID = s.SCHEDID WHERE s.EXT_ID = '"+r.ExtID+"'").Scan(&branch, &service); err != nil {
					t.Fatalf("%s: %v", r.ExtID, err)
				}
				if branch != f.shiftBranch || service != f.service {
					t.Errorf("%s: branch %d service %d, want the shift's branch %d (the doctor's card says %d) and service %d",
						r.ExtID, branch, service, f.shiftBranch, f.anotherBranch, f.service)
				}
			}
		})
	}
}

// slotsOf returns the synced slots the engine would derive for the fixture's shift.
func (f *fixture) slotsOf(busy ...time.Duration) map[string]any {
	out := map[string]any{}
	for at := f.shiftStart; at < f.shiftEnd; at += 30 * time.Minute {
		if at >= f.breakStart && at < f.breakEnd {
			continue
		}
		free := true
		for _, b := range busy {
			if b == at {
				free = false
			}
		}
		id := fmt.Sprintf("slot-%d", at/time.Minute)
		out[id] = mapping.Slot{ID: id, DoctorID: fmt.Sprint(f.doctor), BranchID: fmt.Sprint(f.shiftBranch),
			Start: f.at(at), End: f.at(at + 30*time.Minute), Free: free}
	}
	return out
}

// With synced slots the answer comes from the synced state before the MIS is asked:
// a slot the state store knows busy is refused even though the MIS row was removed
// meanwhile (the MIS would say free), and the branch comes from the synced slot.
func TestSyncedStateFastAnswer(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	f.host.records[mapping.EntitySlot] = f.slotsOf(15 * time.Hour)
	b := f.booker(Options{DaysAhead: 14})
	for _, c := range []struct {
		name string
		r    Request
		code string
	}{
		{"busy in the synced state", f.req("f-1", f.at(15*time.Hour), 30), CodeSlotTaken},
		{"03:00", f.req("f-2", f.at(3*time.Hour), 30), CodeOutsideSchedule},
		{"in the break", f.req("f-3", f.at(16*time.Hour+10*time.Minute), 10), CodeOutsideSchedule},
		{"spanning the break", f.req("f-4", f.at(15*time.Hour+30*time.Minute), 90), CodeOutsideSchedule},
		{"no synced shift that day", f.req("f-5", f.at(48*time.Hour+15*time.Hour), 30), CodeOutsideSchedule},
		{"another branch", func() Request {
			r := f.req("f-6", f.at(14*time.Hour), 30)
			r.BranchID = fmt.Sprint(f.anotherBranch)
			return r
		}(), CodeOutsideSchedule},
	} {
		if _, err := b.Book(ctx, c.r); refusalCode(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if !strings.Contains(f.host.logs.String(), "synced slots") {
		t.Errorf("the refusals do not say they come from the synced slots:\n%s", f.host.logs.String())
	}
	r := f.req("f-7", f.at(17*time.Hour), 60) // two free synced slots
	r.BranchID = ""
	if _, err := b.Book(ctx, r); err != nil {
		t.Fatal(err)
	}
	var branch int
	if err := f.db.QueryRow("SELECT FILIAL_ID FROM SCHEDULE WHERE EXT_ID = 'f-7'").Scan(&branch); err != nil || branch != f.shiftBranch {
		t.Errorf("branch %d %v, want %d", branch, err, f.shiftBranch)
	}
	// The refresh made the slots busy (with this very booking); the channel retries
	// after a lost answer, and later again after the visit's time: the first answer.
	first, _ := b.Book(ctx, r)
	f.host.records[mapping.EntitySlot] = f.slotsOf(15*time.Hour, 17*time.Hour, 17*time.Hour+30*time.Minute)
	if again, err := b.Book(ctx, r); err != nil || !again.Existing || again.AppointmentID != first.AppointmentID {
		t.Errorf("retry over its own busy slot: %+v %v, want %s again", again, err, first.AppointmentID)
	}
	f.now = f.at(18 * time.Hour)
	if again, err := b.Book(ctx, r); err != nil || !again.Existing || again.AppointmentID != first.AppointmentID {
		t.Errorf("retry after the visit's time: %+v %v, want %s again", again, err, first.AppointmentID)
	}
}

// The canonical parameters every booking statement gets.
func TestBookParams(t *testing.T) {
	ekb, _ := time.LoadLocation("Asia/Yekaterinburg")
	start := time.Date(2027, 3, 1, 7, 30, 0, 0, time.UTC) // 12:30 in Yekaterinburg
	st, ok := localSlot(start, start.Add(45*time.Minute), ekb)
	if !ok {
		t.Fatal("not within one day")
	}
	now := time.Date(2027, 2, 27, 5, 0, 0, 0, time.UTC)
	p := bookParams(Request{Channel: "fer", ExtID: "e1", DoctorID: "17", PatientID: "p-9", BranchID: "2", ServiceIDs: []string{"5", "6"}}, st, now, "к окулисту")
	want := map[string]any{
		"channel": "fer", "ext_id": "e1", "doctor_id": int64(17), "patient_id": "p-9", "branch_id": int64(2), "service_id": int64(5),
		"date":        time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
		"start_local": time.Date(2027, 3, 1, 12, 30, 0, 0, time.UTC), "end_local": time.Date(2027, 3, 1, 13, 15, 0, 0, time.UTC),
		"start_minutes": 750, "end_minutes": 795, "duration_minutes": 45, "comment": "к окулисту",
		"now_local": time.Date(2027, 2, 27, 10, 0, 0, 0, time.UTC),
		"ole_date":  46447.0, "ole_start": 750.0 / 1440, "ole_end": 795.0 / 1440, "ole_now": 46445 + 10.0/24,
	}
	if len(p) != len(want) {
		t.Errorf("%d parameters, want %d: %v", len(p), len(want), p)
	}
	for k, v := range want {
		if fmt.Sprint(p[k]) != fmt.Sprint(v) {
			t.Errorf(":%s = %v (%T), want %v", k, p[k], p[k], v)
		}
	}
	// An end at the next midnight is 1440 minutes.
	late := time.Date(2027, 3, 1, 23, 30, 0, 0, ekb)
	if st, ok := localSlot(late, late.Add(30*time.Minute), ekb); !ok || st.endMinutes != 1440 {
		t.Errorf("end at midnight: %+v %v", st, ok)
	}
}
