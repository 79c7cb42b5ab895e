package mapping

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"medsync/mapping/convert"
)

// Interval is a span of time [Start, End) a doctor is busy.
type Interval struct {
	Start, End time.Time
}

// SlotNamespace is the UUID namespace slot IDs are derived in (a SHA-1 name-based UUID
// of doctor and start). It never changes: external systems keep slot IDs.
var SlotNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://medsync/slot"))

// SlotID returns the stable GUID of a doctor's slot starting at start.
func SlotID(doctorID string, start time.Time) string {
	return uuid.NewSHA1(SlotNamespace, []byte(doctorID+"|"+start.UTC().Format(time.RFC3339))).String()
}

// DeriveSlots cuts a shift into cells of shift.SlotMinutes (30 when unset) from its
// start to its end. Cells do not cross the break: the part before the break is cut
// from the shift's start, the part after it from the break's end, and a cell that would
// run past the break or the shift's end is left out. Cells starting before from are
// left out (no slots in the past). A cell overlapping any busy interval is not free.
func DeriveSlots(shift *Shift, busy []Interval, from time.Time) []*Slot {
	return DeriveSlotsBlocked(shift, busy, nil, from)
}

// DeriveSlotsBlocked is DeriveSlots with more periods without slots besides the
// shift's break (slot.blocked: a second break, a meeting): a cell that overlaps one of
// them is left out, and the cells after it are cut from its end.
func DeriveSlotsBlocked(shift *Shift, busy, blocked []Interval, from time.Time) []*Slot {
	step := time.Duration(shift.SlotMinutes) * time.Minute
	if step <= 0 {
		step = 30 * time.Minute
	}
	type span struct{ from, to time.Time }
	spans := []span{{shift.Start, shift.End}}
	cut := func(b Interval) { // takes b out of the spans
		var next []span
		for _, sp := range spans {
			if !b.Start.Before(sp.to) || !b.End.After(sp.from) {
				next = append(next, sp)
				continue
			}
			if b.Start.After(sp.from) {
				next = append(next, span{sp.from, b.Start})
			}
			if b.End.Before(sp.to) {
				next = append(next, span{b.End, sp.to})
			}
		}
		spans = next
	}
	if shift.BreakStart != nil && shift.BreakEnd != nil && shift.BreakEnd.After(*shift.BreakStart) {
		cut(Interval{Start: *shift.BreakStart, End: *shift.BreakEnd})
	}
	for _, b := range blocked {
		if b.End.After(b.Start) {
			cut(b)
		}
	}
	var out []*Slot
	for _, sp := range spans {
		for t := sp.from; !t.Add(step).After(sp.to); t = t.Add(step) {
			if t.Before(from) {
				continue
			}
			end := t.Add(step)
			out = append(out, &Slot{
				ID:       SlotID(shift.DoctorID, t),
				DoctorID: shift.DoctorID,
				BranchID: shift.BranchID,
				ShiftID:  shift.ID,
				Start:    t,
				End:      end,
				Free:     !overlapsAny(t, end, busy),
				Room:     shift.Room,
			})
		}
	}
	return out
}

func overlapsAny(start, end time.Time, busy []Interval) bool {
	for _, b := range busy {
		if b.End.Equal(b.Start) {
			// A zero-length appointment still occupies the cell it starts in.
			if !b.Start.Before(start) && b.Start.Before(end) {
				return true
			}
			continue
		}
		if b.Start.Before(end) && b.End.After(start) {
			return true
		}
	}
	return false
}

// busyEntry is one row of slot.busy, kept as local date and times until the shift it
// belongs to gives it a zone.
type busyEntry struct {
	start, end time.Duration
	wholeDay   bool // the row's times could not be read: the doctor's day counts as busy
}

// readSlots derives slots from shift.rows and slot.busy. slot.busy is read first and
// held in memory (one small entry per busy appointment in the window), then shifts are
// streamed and cut into slots one at a time.
func (s *Source) readSlots(ctx context.Context, w Window, fn func(Item) error, skip func(Skip)) error {
	skip = s.skipper(skip)
	shiftSt, err := s.p.statement(s.dialect, EntityShift+".rows")
	if err != nil {
		return fmt.Errorf("slots are derived from shifts: %w", err)
	}
	busySt, err := s.p.statement(s.dialect, "slot.busy")
	if err != nil {
		return fmt.Errorf("slots need the busy times of appointments: %w", err)
	}
	params := s.windowParams(w)
	busy, unsure, err := s.readBusy(ctx, busySt, params, s.p.entity(EntityAppointment).converters)
	if err != nil {
		return err
	}
	var blocked map[string][]busyEntry
	if blockedSt, ok := s.p.stmts[s.dialect]["slot.blocked"]; ok {
		var unsureBlocked map[string]string
		if blocked, unsureBlocked, err = s.readBusy(ctx, blockedSt, params, s.p.entity(EntityShift).converters); err != nil {
			return err
		}
		for d, why := range unsureBlocked {
			unsure[d] = why
		}
	}
	from := s.opt.Now()
	if from.Before(w.From) {
		from = w.From
	}
	seen := map[string]bool{}
	return s.read(ctx, EntityShift, shiftSt, params, nil, func(it Item) error {
		sh := it.Record.(*Shift)
		k := sh.DoctorID + "|" + convert.FromTime(sh.Start).String()
		for _, sl := range DeriveSlotsBlocked(sh, sh.intervals(busy[k]), sh.intervals(blocked[k]), from) {
			if seen[sl.ID] {
				skip(Skip{Entity: EntitySlot, Key: sl.ID, Problem: fmt.Sprintf("shift %s overlaps another shift of doctor %s at %s; the first shift's slot is used",
					sh.ID, sh.DoctorID, sl.Start.Format(time.RFC3339))})
				continue
			}
			seen[sl.ID] = true
			if why, ok := unsure[sl.DoctorID]; ok && sl.Free {
				// A busy row of this doctor exists but cannot be placed: a slot it may
				// occupy must not go out free. It counts as present and keeps its
				// last state.
				skip(Skip{Entity: EntitySlot, Key: sl.ID, Problem: why + "; the doctor's free slots keep their last state"})
				continue
			}
			if err := fn(Item{Record: sl}); err != nil {
				return err
			}
		}
		return nil
	}, func(sk Skip) {
		sk.Problem = "shift " + sk.Key + ": " + sk.Problem
		sk.Entity, sk.Key = EntitySlot, ""
		skip(sk)
	})
}

// intervals places a day's busy (or blocked) entries on the shift's day in its zone;
// an entry whose times cannot be read covers the whole shift.
func (sh *Shift) intervals(entries []busyEntry) []Interval {
	loc := sh.Start.Location()
	day := convert.FromTime(sh.Start)
	var out []Interval
	for _, b := range entries {
		if b.wholeDay {
			out = append(out, Interval{Start: sh.Start, End: sh.End})
			continue
		}
		bs, err1 := convert.LocalTime(day, b.start, loc)
		be, err2 := convert.LocalTime(day, b.end, loc)
		if err1 != nil || err2 != nil {
			out = append(out, Interval{Start: sh.Start, End: sh.End})
			continue
		}
		out = append(out, Interval{Start: bs, End: be})
	}
	return out
}

// readBusy reads slot.busy (or slot.blocked) into doctor|date → entries, with conv
// for its date, start_time and end_time: the [appointment] section's for slot.busy,
// the [shift] section's for slot.blocked. A row whose times cannot be read covers the
// doctor's whole day. A row whose date cannot be read cannot be placed on a day: its
// doctor is returned in unsure, with the problem, and none of that doctor's free
// slots go out this poll.
func (s *Source) readBusy(ctx context.Context, st ProfileStatement, params map[string]any, conv map[string]string) (busy map[string][]busyEntry, unsure map[string]string, err error) {
	rows, cancel, err := s.query(ctx, st, params)
	if err != nil {
		return nil, nil, err
	}
	defer cancel()
	defer rows.Close()
	idx, err := s.columnIndex(st, rows, busyContract)
	if err != nil {
		return nil, nil, err
	}
	vals := make([]any, len(busyContract))
	dest := make([]any, len(busyContract))
	for i := range busyContract {
		dest[idx[i]] = &vals[i]
	}
	out := map[string][]busyEntry{}
	unsure = map[string]string{}
	n := 0
	for rows.Next() {
		n++
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, s.stmtErr(st, err)
		}
		doctor, _ := rawText(vals[0])
		if doctor == "" {
			s.warn(Skip{Entity: EntitySlot, Row: n, Problem: st.Name + ": a row without doctor_id occupies no doctor's time and is ignored"})
			continue
		}
		if vals[1] == nil {
			unsure[doctor] = fmt.Sprintf("%s row %d: doctor %s: date is empty", st.Name, n, doctor)
			continue
		}
		day, err := decodeDate(vals[1], conv["date"])
		if err != nil {
			unsure[doctor] = fmt.Sprintf("%s row %d: doctor %s: date: %v", st.Name, n, doctor, err)
			continue
		}
		var e busyEntry
		var err1, err2 error
		if vals[2] == nil || vals[3] == nil {
			err1 = fmt.Errorf("start_time or end_time is empty")
		} else {
			e.start, err1 = decodeTime(vals[2], conv["start_time"])
			e.end, err2 = decodeTime(vals[3], conv["end_time"])
		}
		if err1 == nil && err2 == nil && e.end < e.start {
			err1 = fmt.Errorf("ends (%s) before it starts (%s)", clock(e.end), clock(e.start))
		}
		if err1 != nil || err2 != nil {
			// Unreadable busy time: keep the whole day busy rather than offer a slot
			// that may be taken.
			e.wholeDay = true
			s.warn(Skip{Entity: EntitySlot, Row: n, Problem: fmt.Sprintf("%s: doctor %s on %s: %v; no free slots are offered that day",
				st.Name, doctor, day, firstErr(err1, err2))})
		}
		k := doctor + "|" + day.String()
		out[k] = append(out[k], e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, s.stmtErr(st, err)
	}
	return out, unsure, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// derivedFrom lists, per derived entity, the entities its records are computed from.
var derivedFrom = map[string][]string{
	EntitySlot: {EntityShift, EntityAppointment},
}

// DerivedFrom returns the entities whose records entity is derived from (a slot from
// shifts and appointments), or nil for an entity read as it is. The engine holds a
// derived record's guarded change (see Flipper) while a source entity's read failed,
// its deletions were postponed, or its deletions near that record are held
// (DESIGN.md invariant 9). Sources come before the entity in Entities.
func DerivedFrom(entity string) []string { return derivedFrom[entity] }

// Flipper is implemented by derived records that have a change the guard treats like
// a deletion: a slot turning free may let a patient book over a visit whose deletion
// is not confirmed.
type Flipper interface {
	// Flipped reports whether the record is in the state such a change leads to (a
	// free slot). A change of a known record into that state is a flip.
	Flipped() bool
}

// Flipped reports whether the slot is free: a known slot changing into a free one is
// held while the appointments it was derived from are in doubt.
func (r *Slot) Flipped() bool { return r.Free }

// WithDerived returns entity followed by the entities derived from it (appointment →
// appointment, slot): confirming an entity's held deletions also releases the held
// changes they imply. "" (every entity) stays "".
func WithDerived(entity string) []string {
	out := []string{entity}
	if entity == "" {
		return out
	}
	for _, d := range Entities {
		for _, src := range derivedFrom[d] {
			if src == entity {
				out = append(out, d)
			}
		}
	}
	return out
}
