package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
)

// Book writes a booking into the MIS. A refusal is returned as *Refusal (use
// errors.As); any other error means the MIS could not be asked or written and the
// channel should retry later. Booking the same ExtID again returns the first booking
// with Existing set, whatever the request says now.
func (b *Booker) Book(ctx context.Context, r Request) (Result, error) {
	w := b.host.MIS()
	if ok, missing := has(w, required...); !ok {
		return Result{}, fmt.Errorf("booking %s %s: %w: %v", r.Channel, r.ExtID, ErrUnsupported, missing)
	}
	if ref := b.validate(r); ref != nil {
		return Result{}, b.refused(r, ref)
	}
	loc := b.zone(ctx, r.BranchID)
	st, ok := localSlot(r.Start, r.End, loc)
	if !ok {
		return Result{}, b.refused(r, refuse(CodeInvalid, "%s–%s is not within one day in %s", convert.FormatTime(r.Start), convert.FormatTime(r.End), loc))
	}
	comment, cut := capComment(r.Comment, b.maxLen("comment", defaultMaxComment))
	params := bookParams(r, st, b.o.Now(), comment)
	ref := b.checkTime(st)
	var branch string
	if ref == nil {
		branch, ref = b.checkSynced(ctx, r, st)
	}
	if ref != nil {
		// The same booking again (a retry after a lost answer) gets its first answer,
		// even when its slot is busy now (with itself) or its time has passed.
		if f, ok, err := b.findExt(ctx, w, params); err != nil {
			return Result{}, fmt.Errorf("booking %s %s: %w", r.Channel, r.ExtID, err)
		} else if ok {
			return Result{AppointmentID: f.id, Existing: true}, nil
		}
		return Result{}, b.refused(r, ref)
	}
	if r.BranchID == "" && branch != "" {
		r.BranchID = branch
		params["branch_id"] = misID(branch)
	}
	if cut {
		b.log.Warn("booking comment cut to the length the MIS column takes", "channel", r.Channel, "booking", r.ExtID,
			"characters", utf8.RuneCountInString(r.Comment), "kept", utf8.RuneCountInString(comment))
	}
	res, err := b.write(ctx, w, r, params)
	if err != nil {
		var ref *Refusal
		if errors.As(err, &ref) {
			return Result{}, b.refused(r, ref)
		}
		return Result{}, fmt.Errorf("booking %s %s: %w", r.Channel, r.ExtID, err)
	}
	if !res.Existing {
		b.log.Info("booking written into the MIS", "channel", r.Channel, "booking", r.ExtID, "appointment", res.AppointmentID,
			"doctor", r.DoctorID, "start", convert.FormatTime(st.start))
		b.refresh(ctx, connectors.RefreshRequest{Reason: "booking " + r.Channel + " " + r.ExtID, DoctorID: r.DoctorID,
			BranchID: r.BranchID, From: st.start, To: st.end, AppointmentIDs: []string{res.AppointmentID}})
	}
	return res, nil
}

func (b *Booker) refused(r Request, ref *Refusal) error {
	b.log.Info("booking refused", "channel", r.Channel, "booking", r.ExtID, "code", ref.Code, "why", ref.Detail)
	return ref
}

// validate checks what needs no clock, zone or MIS.
func (b *Booker) validate(r Request) *Refusal {
	switch maxExt := b.maxLen("ext_id", defaultMaxExtID); {
	case r.ExtID == "":
		return refuse(CodeInvalid, "no booking id")
	case utf8.RuneCountInString(r.ExtID) > maxExt:
		return refuse(CodeInvalid, "the booking id has %d characters, the MIS keeps %d", utf8.RuneCountInString(r.ExtID), maxExt)
	case r.DoctorID == "":
		return refuse(CodeInvalid, "no doctor")
	case r.PatientID == "":
		return refuse(CodePatientNotFound, "no patient id")
	case r.Start.IsZero() || r.End.IsZero() || !r.End.After(r.Start):
		return refuse(CodeInvalid, "the end %s is not after the start %s", convert.FormatTime(r.End), convert.FormatTime(r.Start))
	}
	return nil
}

// checkTime checks the interval against the clock and the sync window.
func (b *Booker) checkTime(st slotTime) *Refusal {
	now := b.o.Now().In(st.loc)
	today := convert.FromTime(now)
	if y := st.start.Year(); y < today.Year-1 || y > today.Year+10 {
		return refuse(CodeOutOfWindow, "year %d", y)
	}
	if st.start.Before(now.Add(b.o.CutOff)) {
		return refuse(CodeInPast, "starts %s, now is %s (cut-off %s)", convert.FormatTime(st.start), convert.FormatTime(now), b.o.CutOff)
	}
	if b.o.DaysAhead > 0 && st.day.Compare(today.AddDays(b.o.DaysAhead)) > 0 {
		return refuse(CodeOutOfWindow, "%s is past the %d days ahead that are synced", st.day, b.o.DaysAhead)
	}
	return nil
}

var errRefused = errors.New("refused")

// write runs the booking transaction.
func (b *Booker) write(ctx context.Context, w connectors.MISWriter, r Request, params map[string]any) (Result, error) {
	var out Result
	var ref *Refusal
	err := w.Tx(ctx, func(tx connectors.MISTx) error {
		if w.Has(stmtLock) {
			// First, in a statement of its own: later reads see bookings committed by
			// whoever held the lock before us.
			if err := lock(ctx, tx, params); err != nil {
				return err
			}
		}
		if f, ok, err := find(ctx, tx, stmtFindExt, params); err != nil {
			return err
		} else if ok {
			out = Result{AppointmentID: f.id, Existing: true}
			return nil
		}
		v, err := check(ctx, tx, params)
		if err != nil {
			return err
		}
		if ref = v.refusal(); ref != nil {
			return errRefused
		}
		res, err := tx.Exec(ctx, stmtInsert, params)
		if err != nil {
			return fmt.Errorf("%s: %w", stmtInsert, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			ref = refuse(CodeDoctorNotBookable, "%s inserted no row", stmtInsert)
			return errRefused
		}
		if err := services(ctx, w, tx, r, params); err != nil {
			return err
		}
		f, ok, err := find(ctx, tx, stmtFindExt, params)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s inserted no row findable by %s", stmtInsert, stmtFindExt)
		}
		out = Result{AppointmentID: f.id}
		return nil
	})
	if errors.Is(err, errRefused) {
		return Result{}, ref
	}
	return out, err
}

func (v verdict) refusal() *Refusal {
	switch {
	case !v.doctorOK:
		return refuse(CodeDoctorNotBookable, "the MIS says the doctor is unknown, disabled or hidden from online booking")
	case !v.patientOK:
		return refuse(CodePatientNotFound, "the MIS has no such patient card")
	case !v.inSchedule:
		return refuse(CodeOutsideSchedule, "the MIS says the time is outside the doctor's bookable time")
	case v.busy:
		return refuse(CodeSlotTaken, "another appointment of the doctor overlaps")
	}
	return nil
}

func services(ctx context.Context, w connectors.MISWriter, tx connectors.MISTx, r Request, params map[string]any) error {
	if !w.Has(stmtServices) {
		return nil
	}
	for _, sid := range r.ServiceIDs {
		p := map[string]any{}
		for k, v := range params {
			p[k] = v
		}
		p["service_id"] = misID(sid)
		if _, err := tx.Exec(ctx, stmtServices, p); err != nil {
			return fmt.Errorf("%s (service %s): %w", stmtServices, sid, err)
		}
	}
	return nil
}

// zone returns the zone the MIS keeps the branch's wall times in: the synced branch
// record's, else Options.Zone.
func (b *Booker) zone(ctx context.Context, branchID string) *time.Location {
	if branchID == "" {
		return b.o.Zone
	}
	var loc *time.Location
	_ = b.host.Records(ctx, mapping.EntityBranch, func(key string, data json.RawMessage) error {
		if key != branchID {
			return nil
		}
		var br mapping.Branch
		if json.Unmarshal(data, &br) == nil && br.TimeZone != "" {
			loc, _ = convert.LoadZone(br.TimeZone)
		}
		return nil
	})
	if loc == nil {
		return b.o.Zone
	}
	return loc
}

// refresh asks the host to bring the changed records into the state store now. The
// MIS write is committed whatever happens here: a failure is logged and the next poll
// catches up.
func (b *Booker) refresh(ctx context.Context, r connectors.RefreshRequest) {
	if err := b.host.Refresh(ctx, r); err != nil {
		b.log.Warn("the booked slot's new state waits for the next poll: refresh failed", "why", r.Reason, "error", err)
	}
}

// lock runs book_lock. It is run as a query and its rows are drained: a SELECT … FOR
// UPDATE that finds no row (an unknown doctor) hangs the MySQL driver when run as an
// Exec, and a statement that is an UPDATE runs the same way through a query.
func lock(ctx context.Context, tx connectors.MISTx, params map[string]any) error {
	rows, err := tx.Query(ctx, stmtLock, params)
	if err != nil {
		return fmt.Errorf("%s: %w", stmtLock, err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", stmtLock, err)
	}
	return rows.Close()
}

// findExt looks the channel's booking id up in the MIS, in a transaction of its own.
func (b *Booker) findExt(ctx context.Context, w connectors.MISWriter, params map[string]any) (f found, ok bool, err error) {
	err = w.Tx(ctx, func(tx connectors.MISTx) error {
		f, ok, err = find(ctx, tx, stmtFindExt, params)
		return err
	})
	return f, ok, err
}
