package booking

import (
	"context"
	"errors"
	"fmt"

	"medsync/connectors"
)

// Cancel cancels an appointment in the MIS. It is idempotent: cancelling an
// appointment already cancelled returns Existing. An unknown appointment is a
// *Refusal with CodeNotFound; any other error is a MIS failure worth retrying.
func (b *Booker) Cancel(ctx context.Context, r CancelRequest) (Result, error) {
	w := b.host.MIS()
	byExt := r.ExtID != ""
	findStmt, cancelStmt := stmtFindExt, stmtCancelExt
	if !byExt {
		findStmt, cancelStmt = stmtFindID, stmtCancelID
	}
	if ok, missing := has(w, findStmt, cancelStmt); !ok {
		return Result{}, fmt.Errorf("cancel %s %s%s: %w: %v", r.Channel, r.ExtID, r.AppointmentID, ErrUnsupported, missing)
	}
	if !byExt && r.AppointmentID == "" {
		return Result{}, b.cancelRefused(r, refuse(CodeInvalid, "neither a booking id nor an appointment id"))
	}
	reason := r.Reason
	if reason == "" {
		reason = ReasonPatient
	}
	text, ok := b.o.ReasonText[reason]
	if !ok {
		if text, ok = DefaultReasonText[reason]; !ok {
			return Result{}, b.cancelRefused(r, refuse(CodeInvalid, "unknown cancel reason %q", reason))
		}
	}
	params := map[string]any{
		"channel": r.Channel, "ext_id": r.ExtID, "appointment_id": misID(r.AppointmentID),
		"reason_code": reason, "reason_text": text, "comment": nullIfEmpty(r.Comment),
	}
	var out Result
	var f found
	err := w.Tx(ctx, func(tx connectors.MISTx) error {
		var ok bool
		var err error
		if f, ok, err = find(ctx, tx, findStmt, params); err != nil {
			return err
		} else if !ok {
			return refuse(CodeNotFound, "the MIS has no appointment %s%s", r.ExtID, r.AppointmentID)
		}
		out = Result{AppointmentID: f.id, Existing: f.deleted}
		if f.deleted {
			return nil
		}
		now := b.o.Now().In(b.zone(ctx, f.branchID))
		params["appointment_id"] = misID(f.id)
		params["now_local"] = wall(now)
		params["ole_now"] = oleNow(now)
		if _, err := tx.Exec(ctx, cancelStmt, params); err != nil {
			return fmt.Errorf("%s: %w", cancelStmt, err)
		}
		return nil
	})
	var ref *Refusal
	if errors.As(err, &ref) {
		return Result{}, b.cancelRefused(r, ref)
	}
	if err != nil {
		return Result{}, fmt.Errorf("cancel %s %s%s in the MIS: %w", r.Channel, r.ExtID, r.AppointmentID, err)
	}
	if !out.Existing {
		b.log.Info("cancellation written into the MIS", "channel", r.Channel, "booking", r.ExtID, "appointment", out.AppointmentID, "reason", reason)
		b.refresh(ctx, connectors.RefreshRequest{Reason: "cancellation " + r.Channel + " " + r.ExtID + r.AppointmentID,
			DoctorID: f.doctorID, BranchID: f.branchID, AppointmentIDs: []string{out.AppointmentID}})
	}
	return out, nil
}

func (b *Booker) cancelRefused(r CancelRequest, ref *Refusal) error {
	b.log.Info("cancellation refused", "channel", r.Channel, "booking", r.ExtID, "appointment", r.AppointmentID, "code", ref.Code, "why", ref.Detail)
	return ref
}
