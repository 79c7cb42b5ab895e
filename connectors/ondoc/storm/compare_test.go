package storm

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"medsync/mapping"
)

// The oracle is a fresh full read of the MIS through the demo profile (mapping.Source,
// no engine, no state): what ONDOC must show now.
type oracle struct {
	doctors map[string]*mapping.Doctor
	slots   map[string]*mapping.Slot
	appts   map[string]*mapping.Appointment
	window  mapping.Window
	at      time.Time
}

func (s *storm) readMIS(c context.Context, driver, dsn string) *oracle {
	s.t.Helper()
	db, dialect, err := mapping.OpenDB(c, driver, dsn)
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	prof, err := mapping.LoadProfile("demo")
	if err != nil {
		s.t.Fatal(err)
	}
	o := &oracle{doctors: map[string]*mapping.Doctor{}, slots: map[string]*mapping.Slot{}, appts: map[string]*mapping.Appointment{}, at: time.Now()}
	src := mapping.NewSource(db, dialect, prof, mapping.SourceOptions{Zone: s.loc, Now: func() time.Time { return o.at }})
	n := o.at.In(s.loc)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, s.loc)
	o.window = mapping.Window{From: today.AddDate(0, 0, -daysBack), To: today.AddDate(0, 0, daysAhead+1)}
	skip := func(sk mapping.Skip) { s.t.Fatalf("the demo MIS has a row the profile cannot read: %s", sk) }
	read := func(entity string, fn func(mapping.Record)) {
		if err := src.ReadAll(c, entity, o.window, func(it mapping.Item) error { fn(it.Record); return nil }, skip); err != nil {
			s.t.Fatalf("fresh read of %s: %v", entity, err)
		}
	}
	read(mapping.EntityDoctor, func(r mapping.Record) { d := r.(*mapping.Doctor); o.doctors[d.ID] = d })
	read(mapping.EntitySlot, func(r mapping.Record) { x := r.(*mapping.Slot); o.slots[x.ID] = x })
	read(mapping.EntityAppointment, func(r mapping.Record) { a := r.(*mapping.Appointment); o.appts[a.ID] = a })
	return o
}

func wireStatus(st string) string {
	switch st {
	case mapping.StatusCancelled:
		return stCancelled
	case mapping.StatusCompleted:
		return stCompleted
	case mapping.StatusNoShow:
		return stNoShow
	}
	return stBooked
}

func sameInstant(wire string, t time.Time) bool {
	w, err := time.Parse(time.RFC3339, wire)
	return err == nil && w.Equal(t)
}

// findings collects every way the receiver differs from the MIS, by kind.
type findings map[string][]string

func (f findings) add(kind, format string, args ...any) {
	f[kind] = append(f[kind], fmt.Sprintf(format, args...))
}

// compare asserts that the receiver (held under its lock by the caller) shows what
// the MIS says now: nothing lost, no phantom, no false delete, no stale content.
func (s *storm) compare(c context.Context, driver, dsn string) {
	o := s.readMIS(c, driver, dsn)
	r := s.recv
	f := findings{}
	for id, d := range o.doctors {
		rd, ok := r.doctors[id]
		switch {
		case !ok:
			f.add("lost", "doctor %s", id)
		case rd.Active != d.OnlineBooking:
			f.add("wrong", "doctor %s active=%v, MIS online booking %v", id, rd.Active, d.OnlineBooking)
		case rd.LastName != d.LastName || rd.FirstName != d.FirstName || rd.FilialMisID != d.BranchID:
			f.add("wrong", "doctor %s is %+v, MIS %+v", id, rd, d)
		}
	}
	for id, rd := range r.doctors {
		if _, ok := o.doctors[id]; !ok && rd.Active {
			f.add("phantom", "doctor %s active in ONDOC, not in the MIS", id)
		}
	}
	s.compareSlots(o, f)
	s.compareVisits(o, f)
	s.t.Logf("compared %d doctors, %d slots, %d appointments (%d hard-deleted by the test) with ONDOC's %d doctors, %d slots, %d visits",
		len(o.doctors), len(o.slots), len(o.appts), len(s.deleted), len(r.doctors), len(r.slots), len(r.visits))
	kinds := make([]string, 0, len(f))
	for k := range f {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		sort.Strings(f[k])
		msg := fmt.Sprintf("%s: %d, e.g.\n  %s", k, len(f[k]), strings.Join(first(f[k], 8), "\n  "))
		s.t.Error(msg)
	}
}

func (s *storm) compareSlots(o *oracle, f findings) {
	// Slots that began since medsync's last poll are cut from the fresh read only.
	cutoff := o.at.Add(2 * time.Minute)
	for id, x := range o.slots {
		if x.Start.Before(cutoff) {
			continue
		}
		rs, ok := s.recv.slots[id]
		switch {
		case !ok:
			f.add("lost", "slot %s (doctor %s %s)", id, x.DoctorID, x.Start.Format(time.RFC3339))
		case rs.Deleted:
			f.add("false delete", "slot %s deleted in ONDOC, the MIS has it", id)
		case !sameInstant(rs.Start, x.Start) || !sameInstant(rs.End, x.End) || rs.DoctorMisID != x.DoctorID:
			f.add("wrong", "slot %s is %s–%s doctor %s, MIS %s–%s doctor %s", id, rs.Start, rs.End, rs.DoctorMisID, x.Start, x.End, x.DoctorID)
		case rs.Free && !x.Free:
			f.add("free but busy", "slot %s (doctor %s %s) free in ONDOC, busy in the MIS", id, x.DoctorID, rs.Start)
		case !rs.Free && x.Free:
			f.add("busy but free", "slot %s (doctor %s %s) busy in ONDOC, free in the MIS", id, x.DoctorID, rs.Start)
		}
	}
	for id, rs := range s.recv.slots {
		st, err := time.Parse(time.RFC3339, rs.Start)
		if rs.Deleted || err != nil || st.Before(cutoff) || !st.Before(o.window.To) {
			continue
		}
		if _, ok := o.slots[id]; !ok {
			f.add("phantom", "slot %s (%s free=%v) in ONDOC, not in the MIS", id, rs.Start, rs.Free)
		}
	}
}

// linkMargin: a patient's visits that began before the link (plus this margin) may be
// missing in ONDOC: the connector sends held visits of a new link only when they are
// still ahead (README, "Linked patients and held appointments").
const linkMargin = 10 * time.Minute

func (s *storm) compareVisits(o *oracle, f findings) {
	r := s.recv
	for id, a := range o.appts {
		linkedAt, linked := r.linked[a.PatientID]
		rv, shown := r.visits[id]
		if a.PatientID == "" || !linked {
			// ONDOC shows no visits of an unlinked patient; those it took while
			// they were linked, before medsync unlinked them (a deleted card), it
			// keeps hidden until a new link. Any other is a visit that never
			// should have been sent.
			if shown && !r.unlinked[a.PatientID] {
				f.add("phantom", "visit %s of unlinked patient %q shown", id, a.PatientID)
			}
			continue
		}
		want := wireStatus(a.Status)
		switch {
		case want == stCancelled:
			if shown && rv.Status != stCancelled {
				f.add("phantom visit", "visit %s is %s in ONDOC, cancelled in the MIS", id, rv.Status)
			}
		case !shown:
			if a.Start.Before(linkedAt.Add(linkMargin)) {
				s.stats["visits begun before their link, not sent"]++
				continue
			}
			f.add("lost", "visit %s (patient %s, %s, %s)", id, a.PatientID, a.Start.Format(time.RFC3339), a.Status)
		case rv.Status == stCancelled && rv.CancelReason == deletedText:
			f.add("false delete", "visit %s shown as deleted in the MIS, the MIS has it %s", id, a.Status)
		case rv.Status != want:
			f.add("wrong", "visit %s is %s in ONDOC, %s in the MIS", id, rv.Status, want)
		case !sameInstant(rv.Start, a.Start) || !sameInstant(rv.End, a.End) || rv.DoctorMisID != a.DoctorID || rv.Comment != a.Comment || rv.BookingID != a.ExternalID:
			f.add("wrong", "visit %s is %s–%s doctor %s %q booking %q, MIS %s–%s doctor %s %q booking %q", id, rv.Start, rv.End, rv.DoctorMisID, rv.Comment, rv.BookingID,
				a.Start.Format(time.RFC3339), a.End.Format(time.RFC3339), a.DoctorID, a.Comment, a.ExternalID)
		}
	}
	for id, rv := range r.visits {
		if _, ok := o.appts[id]; ok || rv.Status == stCancelled {
			continue
		}
		if st, err := time.Parse(time.RFC3339, rv.Start); err == nil && st.Before(o.window.From) {
			continue // slid out of the window behind (midnight passed): no longer synced
		}
		kind := "phantom visit"
		if r.lateVisits[id] || s.killedAfter(r.visitAt[id]) {
			kind = "phantom visit after a lost ack"
		}
		f.add(kind, "visit %s (patient %s, %s) is %s in ONDOC, gone from the MIS (deleted by the test: %v)", id, rv.PatientMisID, rv.Start, rv.Status, s.deleted[id])
	}
}

// killedAfter reports whether medsync was killed within the connector's timeout after
// t: a visit applied then may never have been acknowledged.
func (s *storm) killedAfter(t time.Time) bool {
	for _, k := range s.kills {
		if !k.Before(t) && k.Sub(t) < 1500*time.Millisecond {
			return true
		}
	}
	return false
}

// compareBookings (receiver locked by the caller): every booking made in ONDOC got one
// answer; a confirmed one is the MIS appointment with its id as EXT_ID (unless the test
// deleted it since), a rejected one is not in the MIS, and the MIS has no booking ONDOC
// never made.
func (s *storm) compareBookings() {
	inMIS := map[string]string{} // EXT_ID → SCHEDID
	rows, err := s.db.QueryContext(ctx(s.t), `SELECT EXT_ID, SCHEDID FROM SCHEDULE WHERE EXT_ID IS NOT NULL`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var ext string
		var id int64
		if err := rows.Scan(&ext, &id); err != nil {
			s.t.Fatal(err)
		}
		inMIS[ext] = fmt.Sprint(id)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	f := findings{}
	confirmed := 0
	for id := range s.recv.bookings {
		a, answered := s.recv.booked[id]
		appt, booked := inMIS[id]
		switch {
		case !answered:
			f.add("booking unanswered", "booking %s (in the MIS: %v)", id, booked)
		case a.Result == "rejected" && booked:
			f.add("booking rejected but booked", "booking %s rejected (%s) to the patient, appointment %s in the MIS", id, a.ReasonCode, appt)
		case a.Result == "confirmed" && !booked && !s.deleted[a.MisVisitID]:
			f.add("booking confirmed but lost", "booking %s confirmed as appointment %s, the MIS has none", id, a.MisVisitID)
		case a.Result == "confirmed" && booked && appt != a.MisVisitID:
			f.add("booking confirmed as another visit", "booking %s confirmed as %s, the MIS has it as %s", id, a.MisVisitID, appt)
		}
		if a.Result == "confirmed" {
			confirmed++
		}
	}
	for ext, appt := range inMIS {
		if _, ok := s.recv.bookings[ext]; !ok && strings.HasPrefix(ext, "bk-") { // OD-…: seeded online visits
			f.add("phantom booking", "appointment %s has EXT_ID %s, no ONDOC booking", appt, ext)
		}
	}
	s.t.Logf("%d bookings made in ONDOC, %d confirmed", len(s.recv.bookings), confirmed)
	for k, v := range f {
		sort.Strings(v)
		s.t.Errorf("%s: %d, e.g.\n  %s", k, len(v), strings.Join(first(v, 8), "\n  "))
	}
}
