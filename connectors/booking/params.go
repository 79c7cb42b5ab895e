package booking

import (
	"time"

	"medsync/mapping/convert"
)

// slotTime is a booking's interval in the branch's wall time.
type slotTime struct {
	loc          *time.Location
	start, end   time.Time // in loc
	day          convert.Date
	startMinutes int // since the day's midnight
	endMinutes   int // since the same midnight; 1440 for an end at the next midnight
}

// localSlot converts instants into the branch's wall time. ok is false when the
// interval is not within one local day (an end at the next midnight is allowed).
func localSlot(start, end time.Time, loc *time.Location) (slotTime, bool) {
	ls, le := start.In(loc), end.In(loc)
	st := slotTime{loc: loc, start: ls, end: le, day: convert.FromTime(ls)}
	st.startMinutes = minutesOfDay(ls)
	st.endMinutes = minutesOfDay(le)
	if endDay := convert.FromTime(le); endDay != st.day {
		if endDay != st.day.AddDays(1) || st.endMinutes != 0 || le.Second() != 0 {
			return st, false
		}
		st.endMinutes = 24 * 60
	}
	return st, true
}

func minutesOfDay(t time.Time) int { h, m, _ := t.Clock(); return h*60 + m }

// wall returns t's wall clock as a time.Time in UTC: drivers write it into DATE,
// DATETIME and TIMESTAMP columns unchanged (no zone conversion).
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// bookParams are the parameters every booking statement gets (README.md, "Parameters").
func bookParams(r Request, st slotTime, now time.Time, comment string) map[string]any {
	sinceMidnight := func(min int) time.Duration { return time.Duration(min) * time.Minute }
	var service any
	if len(r.ServiceIDs) > 0 {
		service = misID(r.ServiceIDs[0])
	}
	nowLocal := now.In(st.loc)
	return map[string]any{
		"channel":          r.Channel,
		"ext_id":           r.ExtID,
		"doctor_id":        misID(r.DoctorID),
		"patient_id":       misID(r.PatientID),
		"branch_id":        misID(r.BranchID),
		"service_id":       service,
		"date":             wall(st.day.In(time.UTC)),
		"start_local":      wall(st.start),
		"end_local":        wall(st.end),
		"start_minutes":    st.startMinutes,
		"end_minutes":      st.endMinutes,
		"duration_minutes": st.endMinutes - st.startMinutes,
		"comment":          nullIfEmpty(comment),
		"now_local":        wall(nowLocal),
		// Legacy units (OLE/Delphi TDateTime) for MIS that store them.
		"ole_date":  convert.ToOLE(st.day),
		"ole_start": convert.ToDayFraction(sinceMidnight(st.startMinutes)),
		"ole_end":   convert.ToDayFraction(sinceMidnight(st.endMinutes)),
		"ole_now":   oleNow(nowLocal),
	}
}

// oleNow is t's wall clock as an OLE date-time.
func oleNow(t time.Time) float64 { return convert.ToOLEDateTime(t) }
