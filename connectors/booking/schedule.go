package booking

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"unicode/utf8"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
)

// Text limits used when the profile declares none ("-- limit :comment N" in a write
// statement, see README.md).
const (
	defaultMaxComment = 1000
	defaultMaxExtID   = 64
)

// maxLen is the declared length of a text parameter, else def.
func (b *Booker) maxLen(param string, def int) int {
	if l, ok := b.host.MIS().(connectors.MISLimits); ok {
		if n := l.MaxLen(param); n > 0 {
			return n
		}
	}
	return def
}

// capComment cuts a comment to the declared length (in characters, on a character
// boundary). A comment is the patient's free text: a booking is not refused for it.
func capComment(s string, max int) (string, bool) {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s, false
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// syncedSlots returns the synced slots of the doctor that start on the local day of
// st, sorted by start; ok is false when the host keeps no slot records (the check is
// then left to the MIS).
func (b *Booker) syncedSlots(ctx context.Context, doctorID string, st slotTime) (slots []mapping.Slot, ok bool) {
	needle := []byte(`"doctor_id":` + strconv.Quote(doctorID))
	err := b.host.Records(ctx, mapping.EntitySlot, func(_ string, data json.RawMessage) error {
		if !bytes.Contains(data, needle) {
			return nil
		}
		var s mapping.Slot
		if json.Unmarshal(data, &s) != nil || s.DoctorID != doctorID {
			return nil
		}
		if convert.FromTime(s.Start.In(st.loc)) == st.day {
			slots = append(slots, s)
		}
		return nil
	})
	if err != nil {
		return nil, false
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].Start.Before(slots[j].Start) })
	return slots, true
}

// checkSynced is the fast answer from the synced state: the interval must be covered,
// without a gap, by synced slots of the doctor (in the requested branch, when given),
// all of them free. It returns the branch of the covering slots. The MIS re-checks
// everything inside its transaction; this only refuses early what the synced state
// already rules out.
func (b *Booker) checkSynced(ctx context.Context, r Request, st slotTime) (branch string, ref *Refusal) {
	slots, ok := b.syncedSlots(ctx, r.DoctorID, st)
	if !ok {
		return "", nil
	}
	if len(slots) == 0 {
		return "", refuse(CodeOutsideSchedule, "the doctor has no shift on %s", st.day)
	}
	at := r.Start
	busy := false
	for _, s := range slots {
		if !s.End.After(at) || (r.BranchID != "" && s.BranchID != r.BranchID) {
			continue
		}
		if s.Start.After(at) {
			break // a gap: a break, or the time between shifts
		}
		if branch == "" {
			branch = s.BranchID
		}
		busy = busy || !s.Free
		at = s.End
		if !at.Before(r.End) {
			if busy {
				return "", refuse(CodeSlotTaken, "the synced slots at %s are busy", convert.FormatTime(st.start))
			}
			return branch, nil
		}
	}
	return "", refuse(CodeOutsideSchedule, "%s–%s is not inside the doctor's synced slots on %s (outside the shift or in a break)",
		st.start.Format("15:04"), st.end.Format("15:04"), st.day)
}
