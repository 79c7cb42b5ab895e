package ondoc

import (
	"context"
	"fmt"
	"medsync/connectors"
	"time"
)

// RegisterLinkCode sends the 9-digit code bound to a patient card to ONDOC; the patient
// types it in the ONDOC account to attach to the clinic. The code is never logged.
// When ONDOC answers that the patient is already linked, held appointments are sent.
func (c *Conn) RegisterLinkCode(ctx context.Context, patientID, code string, expires time.Time) error {
	if len(code) != 9 || !allDigits(code) {
		return fmt.Errorf("ondoc: link code for patient %s must be 9 digits", patientID)
	}
	req := linkCodeRequest{PatientMisID: patientID, Code: code}
	if !expires.IsZero() {
		req.ExpiresAt = formatTime(expires, c.zone)
	}
	var resp linkCodeResponse
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call(ctx, epLinkCode, derivedKey("link", patientID, code), nil, req, &resp); err != nil {
		return fmt.Errorf("ondoc: send link code of patient %s: %w", patientID, err)
	}
	c.log.Info("link code sent to ONDOC", "patient", patientID)
	if resp.Linked {
		return c.linked(ctx, patientID)
	}
	return nil
}

// Unlink detaches a patient from the clinic in ONDOC (a code revoked by the registrar).
func (c *Conn) Unlink(ctx context.Context, patientID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.call(ctx, epUnlink, derivedKey("unlink", patientID, c.now().UTC().Format("2006-01-02")), nil,
		unlinkRequest{PatientMisID: patientID, Reason: unlinkRevoked}, nil)
	if err != nil && !isStatus(err, 404) {
		return fmt.Errorf("ondoc: unlink patient %s: %w", patientID, err)
	}
	if err := c.store.setLinked(ctx, patientID, false, time.Time{}); err != nil {
		return fmt.Errorf("ondoc: state file: unlink patient %s: %w", patientID, err)
	}
	c.log.Info("patient unlinked in ONDOC", "patient", patientID)
	return nil
}

// linked records a link and sends the patient's held future appointments.
func (c *Conn) linked(ctx context.Context, patientID string) error {
	if err := c.store.setLinked(ctx, patientID, true, c.now()); err != nil {
		return fmt.Errorf("ondoc: state file: link patient %s: %w", patientID, err)
	}
	return c.backfill(ctx)
}

// backfill sends held appointments of linked patients that are still ahead, in
// batches, and drops them once ONDOC acknowledged them. Past ones are purged.
func (c *Conn) backfill(ctx context.Context) error {
	now := c.now()
	if err := c.store.purge(ctx, now); err != nil {
		return fmt.Errorf("ondoc: state file: purge: %w", err)
	}
	held, err := c.store.heldOfLinked(ctx, now)
	if err != nil {
		return fmt.Errorf("ondoc: state file: held appointments: %w", err)
	}
	for len(held) > 0 {
		n := min(len(held), maxItems)
		part := held[:n]
		held = held[n:]
		steps := make([]*step, len(part))
		for i, h := range part {
			var v wireVisit
			if err := jsonUnmarshal(h.Payload, &v); err != nil {
				_ = c.store.unhold(ctx, h.ApptID)
				continue
			}
			h := h
			steps[i] = &step{idx: i, entity: "appointment", key: h.ApptID, idem: v.IdempotencyKey, ep: epVisits, item: v,
				beforeSend: func(ctx context.Context) error { return c.store.markSent(ctx, h.ApptID, v.PatientMisID, h.Start) },
				afterAck:   func(ctx context.Context) error { return c.store.unhold(ctx, h.ApptID) },
				notLinked:  c.holdNotLinked(h.ApptID, v.PatientMisID, h.Start, v)}
		}
		steps = compact(steps)
		if len(steps) == 0 {
			continue
		}
		for i, err := range c.sendBatch(ctx, steps) {
			if err == nil {
				continue
			}
			c.log.Warn("held appointment not sent to ONDOC", "appointment", steps[i].key, "error", err)
			if !connectors.IsPermanent(err) {
				return fmt.Errorf("ondoc: send held appointments: %w", err)
			}
			_ = c.store.unhold(ctx, steps[i].key) // ONDOC will never take it as it is
		}
	}
	return nil
}

func compact(s []*step) []*step {
	out := s[:0]
	for _, x := range s {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// IsLinked reports whether ONDOC has told us the patient is linked to the clinic
// (connectors.LinkChecker).
func (c *Conn) IsLinked(ctx context.Context, patientID string) (bool, error) {
	return c.store.isLinked(ctx, patientID)
}
