package ondoc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// step is what one event turns into: a wire item for a batch endpoint, a single
// request, or local bookkeeping only (a held appointment, nothing to send).
type step struct {
	idx    int
	entity string
	key    string
	idem   string

	err   error                           // decided already (a record that cannot be sent)
	local func(ctx context.Context) error // bookkeeping only; nil with ep == "" means plain acknowledge

	ep     string // endpoint to send to
	item   any    // wire item (batch endpoints) or request body (single endpoints)
	single bool   // a request of its own, not a batch item
	ok404  bool   // a 404 answer counts as done (unlink of a patient ONDOC does not know)
	// beforeSend records in the state file, before the request goes out, that the
	// record may reach ONDOC (DESIGN.md invariant 10): an acknowledgement lost to a
	// timeout or a kill must not leave the connector thinking ONDOC never saw it.
	beforeSend func(ctx context.Context) error
	afterAck   func(ctx context.Context) error
	// notLinked is the bookkeeping done instead of a failure when ONDOC refuses the
	// item because the patient is not linked (codePatientNotLinked); nil: a refusal.
	notLinked func(ctx context.Context) error
}

// refusedNotLinked handles ONDOC's "patient not linked" refusal of a step that can
// take it: the patient is recorded as unlinked and the step's notLinked bookkeeping
// runs, so the event is done rather than dead-lettered. It reports whether it applied.
func (c *Conn) refusedNotLinked(ctx context.Context, s *step, code string) (bool, error) {
	if code != codePatientNotLinked || s.notLinked == nil {
		return false, nil
	}
	if err := s.notLinked(ctx); err != nil {
		return true, connectors.Transient(fmt.Errorf("ondoc: state file: %s %s: %w", s.entity, s.key, err), 0)
	}
	return true, nil
}

// intend runs the steps' beforeSend. A failure fails them all as transient: nothing
// is sent that the state file could not record.
func intend(ctx context.Context, steps []*step) error {
	for _, s := range steps {
		if s.beforeSend == nil {
			continue
		}
		if err := s.beforeSend(ctx); err != nil {
			return connectors.Transient(fmt.Errorf("ondoc: state file: %s %s: %w", s.entity, s.key, err), 0)
		}
	}
	return nil
}

// Deliver sends a batch of events. Consecutive events for the same endpoint go in one
// request (up to maxItems); order is kept. After a transient failure the rest of the
// batch is not sent and gets the same error, so per-record order holds on retry.
func (c *Conn) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	if len(batch) == 0 {
		return errs
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	steps := make([]*step, 0, len(batch))
	for i := range batch {
		if ctx.Err() != nil {
			break
		}
		steps = append(steps, c.plan(ctx, i, &batch[i]))
	}
	var stop error
	fail := func(s *step, err error) {
		errs[s.idx] = err
		if err != nil && !connectors.IsPermanent(err) {
			stop = err
		}
	}
	for i := 0; i < len(steps); {
		s := steps[i]
		if stop == nil && ctx.Err() != nil {
			stop = connectors.Transient(fmt.Errorf("ondoc: delivery interrupted: %w", ctx.Err()), 0)
		}
		if stop != nil {
			errs[s.idx] = stop
			i++
			continue
		}
		switch {
		case s.err != nil:
			errs[s.idx] = s.err
			i++
		case s.ep == "":
			if s.local != nil {
				if err := s.local(ctx); err != nil {
					fail(s, connectors.Transient(fmt.Errorf("ondoc: state file: %s %s: %w", s.entity, s.key, err), 0))
				}
			}
			i++
		case s.single:
			fail(s, c.sendSingle(ctx, s))
			i++
			// A request of its own changes what ONDOC knows (an unlink): the rest of
			// the batch is planned again against it — a visit of the patient just
			// unlinked is held, not sent to be refused.
			for k := i; k < len(steps) && stop == nil; k++ {
				steps[k] = c.plan(ctx, steps[k].idx, &batch[steps[k].idx])
			}
		default:
			j := i + 1
			for j < len(steps) && j-i < maxItems && steps[j].ep == s.ep && steps[j].err == nil && !steps[j].single {
				j++
			}
			group := steps[i:j]
			for k, err := range c.sendBatch(ctx, group) {
				fail(group[k], err)
				if stop != nil {
					// Everything after the transiently failed item waits with it.
					for _, rest := range group[k+1:] {
						errs[rest.idx] = stop
					}
					break
				}
			}
			i = j
		}
	}
	for i := len(steps); i < len(batch); i++ { // not planned: ctx was done
		errs[i] = connectors.Transient(fmt.Errorf("ondoc: delivery interrupted: %w", ctx.Err()), 0)
	}
	return errs
}

func (c *Conn) sendSingle(ctx context.Context, s *step) error {
	if err := intend(ctx, []*step{s}); err != nil {
		return err
	}
	err := c.call(ctx, s.ep, s.idem, nil, s.item, nil)
	if err != nil && !(s.ok404 && isStatus(err, 404)) {
		return c.recordError(ctx, s, err)
	}
	if s.afterAck != nil {
		if err := s.afterAck(ctx); err != nil {
			return connectors.Transient(fmt.Errorf("ondoc: state file: %s %s: %w", s.entity, s.key, err), 0)
		}
	}
	return nil
}

// sendBatch sends group as one request and returns one error per step.
func (c *Conn) sendBatch(ctx context.Context, group []*step) []error {
	out := make([]error, len(group))
	items := make([]any, len(group))
	keys := make([]string, len(group))
	for i, s := range group {
		items[i], keys[i] = s.item, s.idem
	}
	if err := intend(ctx, group); err != nil {
		for i := range out {
			out[i] = err
		}
		return out
	}
	var resp batchResponse
	err := c.call(ctx, group[0].ep, batchKey(keys), nil, batchRequest{Items: items}, &resp)
	if err != nil {
		if connectors.IsPermanent(err) && !isAuthError(err) && len(group) > 1 {
			// One record spoiled the request: send them one by one so the rest go through.
			for i, s := range group {
				out[i] = c.sendBatch(ctx, []*step{s})[0]
				if out[i] != nil && !connectors.IsPermanent(out[i]) {
					for k := i + 1; k < len(group); k++ {
						out[k] = out[i]
					}
					break
				}
			}
			return out
		}
		for i, s := range group {
			out[i] = c.recordError(ctx, s, err)
		}
		return out
	}
	for i, s := range group {
		if i < len(resp.Results) && resp.Results[i].Status == resultRejected {
			r := resp.Results[i]
			if done, err := c.refusedNotLinked(ctx, s, r.Code); done {
				out[i] = err
				continue
			}
			out[i] = connectors.Permanent(fmt.Sprintf("ONDOC rejected %s %s: field %q: %s", s.entity, s.key, r.Field, r.Message), nil)
			continue
		}
		if s.afterAck != nil {
			if err := s.afterAck(ctx); err != nil {
				out[i] = connectors.Transient(fmt.Errorf("ondoc: state file: %s %s: %w", s.entity, s.key, err), 0)
			}
		}
	}
	return out
}

// recordError names the record in a permanent rejection (or, for "patient not
// linked", does the step's bookkeeping instead); other errors pass through.
func (c *Conn) recordError(ctx context.Context, s *step, err error) error {
	var h *httpStatusError
	if connectors.IsPermanent(err) && !isAuthError(err) && errors.As(err, &h) {
		if done, err := c.refusedNotLinked(ctx, s, h.Code); done {
			return err
		}
		field := h.Field
		if field == "" {
			field = "?"
		}
		return connectors.Permanent(fmt.Sprintf("ONDOC rejected %s %s (HTTP %d, field %s): %s", s.entity, s.key, h.Status, field, h.Message), err)
	}
	return err
}

// plan turns one event into a step.
func (c *Conn) plan(ctx context.Context, i int, ev *connectors.Event) *step {
	// The wire key names the occurrence, not only the content (see Event.DeliveryKey):
	// ONDOC applies a key once, and a record back to earlier content must still go out.
	s := &step{idx: i, entity: ev.Entity, key: ev.Key, idem: ev.DeliveryKey()}
	if ev.IdempotencyKey == "" {
		s.err = connectors.Permanent(fmt.Sprintf("ondoc: %s %s: event has no idempotency key (engine bug)", ev.Entity, ev.Key), nil)
		return s
	}
	del := ev.Op == connectors.OpDelete
	if !del && ev.Op != connectors.OpUpsert {
		s.err = connectors.Permanent(fmt.Sprintf("ondoc: %s %s: unknown operation %q", ev.Entity, ev.Key, ev.Op), nil)
		return s
	}
	decode := func(v any) bool {
		if err := json.Unmarshal(ev.Data, v); err != nil {
			s.err = connectors.Permanent(fmt.Sprintf("ondoc: %s %s: event data is not a valid %s record", ev.Entity, ev.Key, ev.Entity), err)
			return false
		}
		return true
	}
	switch ev.Entity {
	case mapping.EntityBranch:
		s.ep = epFilials
		w := wireFilial{MisID: ev.Key, IdempotencyKey: s.idem}
		if !del {
			var r mapping.Branch
			if !decode(&r) {
				return s
			}
			w = wireFilial{MisID: r.ID, Name: r.Name, Address: r.Address, Phone: r.Phone, TimeZone: r.TimeZone, Active: true, IdempotencyKey: s.idem}
		}
		s.item = w
	case mapping.EntitySpecialty:
		s.ep = epSpecialties
		w := wireSpeciality{MisID: ev.Key, IdempotencyKey: s.idem}
		if !del {
			var r mapping.Specialty
			if !decode(&r) {
				return s
			}
			w = wireSpeciality{MisID: r.ID, Name: r.Name, Code: r.Code, Active: true, IdempotencyKey: s.idem}
		}
		s.item = w
	case mapping.EntityDoctor:
		s.ep = epDoctors
		w := wireDoctor{MisID: ev.Key, IdempotencyKey: s.idem}
		if !del {
			var r mapping.Doctor
			if !decode(&r) {
				return s
			}
			w = wireDoctor{MisID: r.ID, FilialMisID: r.BranchID, SpecialityMisID: r.SpecialtyID, LastName: r.LastName,
				FirstName: r.FirstName, MiddleName: r.MiddleName, SNILS: r.SNILS, SlotMinutes: r.SlotMinutes,
				Active: r.OnlineBooking, IdempotencyKey: s.idem}
		}
		s.item = w
	case mapping.EntityService:
		s.ep = epServices
		w := wireService{MisID: ev.Key, IdempotencyKey: s.idem}
		if !del {
			var r mapping.Service
			if !decode(&r) {
				return s
			}
			w = wireService{MisID: r.ID, Name: r.Name, Code: r.Code, SpecialityMisID: r.SpecialtyID,
				DurationMinutes: r.DurationMinutes, Mode: r.Mode, Active: r.OnlineBooking, IdempotencyKey: s.idem}
			if k, known := r.Price(); known { // unknown: left out, ONDOC keeps or shows no price
				w.Price = rubles(k)
			}
			if r.PrepayKopecks > 0 {
				w.Prepayment = rubles(r.PrepayKopecks)
			}
		}
		s.item = w
	case mapping.EntitySlot:
		s.ep = epSlots
		w := wireSlot{MisID: ev.Key, Deleted: true, IdempotencyKey: s.idem}
		if !del {
			var r mapping.Slot
			if !decode(&r) {
				return s
			}
			w = wireSlot{MisID: r.ID, DoctorMisID: r.DoctorID, FilialMisID: r.BranchID, Start: formatTime(r.Start, c.zone),
				End: formatTime(r.End, c.zone), Free: r.Free, Room: r.Room, IdempotencyKey: s.idem}
		}
		s.item = w
	case mapping.EntityAppointment:
		if del {
			c.planAppointmentDelete(ctx, s)
			return s
		}
		var r mapping.Appointment
		if !decode(&r) {
			return s
		}
		c.planAppointment(ctx, s, &r)
	case mapping.EntityPatient:
		if del {
			c.planUnlink(s, ev.Key)
			return s
		}
		var r mapping.Patient
		if !decode(&r) {
			return s
		}
		if r.Deleted {
			c.planUnlink(s, r.ID)
			return s
		}
		linked, err := c.store.isLinked(ctx, r.ID)
		if err != nil {
			s.err = connectors.Transient(fmt.Errorf("ondoc: state file: patient %s: %w", r.ID, err), 0)
			return s
		}
		if !linked {
			return s // ONDOC learns about a patient only through the link code
		}
		s.ep = epPatients
		s.notLinked = func(ctx context.Context) error { return c.unlinkedByONDOC(ctx, r.ID) }
		s.item = wirePatient{MisID: r.ID, CardNumber: r.CardNumber, LastName: r.LastName, FirstName: r.FirstName,
			MiddleName: r.MiddleName, BirthDate: r.BirthDate, Phone: r.Phone, Email: r.Email, IdempotencyKey: s.idem}
	default:
		s.err = connectors.Permanent(fmt.Sprintf("ondoc does not take entity %q (%s); remove it from `entities` in [connector.ondoc]", ev.Entity, ev.Key), nil)
	}
	return s
}

func visitStatus(st string) string {
	switch st {
	case mapping.StatusCancelled:
		return visitCancelled
	case mapping.StatusCompleted:
		return visitCompleted
	case mapping.StatusNoShow:
		return visitNoShow
	}
	return visitBooked
}

func (c *Conn) visit(r *mapping.Appointment, idem string) wireVisit {
	v := wireVisit{MisID: r.ID, PatientMisID: r.PatientID, DoctorMisID: r.DoctorID, FilialMisID: r.BranchID,
		Start: formatTime(r.Start, c.zone), End: formatTime(r.End, c.zone), Status: visitStatus(r.Status),
		Source: r.Source, ServiceMisIDs: r.ServiceIDs, Room: r.Room, Comment: r.Comment, BookingID: r.ExternalID,
		IdempotencyKey: idem}
	if r.Status == mapping.StatusCancelled {
		v.CancelReason = r.CancelReason
	}
	return v
}

func (c *Conn) planAppointment(ctx context.Context, s *step, r *mapping.Appointment) {
	if r.PatientID == "" {
		return // a walk-in without a card: no one to show it to; the busy slot is sent anyway
	}
	linked := true
	if c.linkRequired {
		var err error
		if linked, err = c.store.isLinked(ctx, r.PatientID); err != nil {
			s.err = connectors.Transient(fmt.Errorf("ondoc: state file: appointment %s: %w", r.ID, err), 0)
			return
		}
	}
	v := c.visit(r, s.idem)
	start, patient := r.Start, r.PatientID
	if !linked {
		c.planHeld(ctx, s, r.ID, patient, start, v)
		return
	}
	s.ep, s.item = epVisits, v
	s.beforeSend = func(ctx context.Context) error { return c.store.markSent(ctx, r.ID, patient, start) }
	s.afterAck = func(ctx context.Context) error { return c.store.unhold(ctx, r.ID) }
	if c.linkRequired { // else a refusal as "not linked" is a setting to fix: it dead-letters, for the operator to see
		s.notLinked = c.holdNotLinked(r.ID, patient, start, v)
	}
}

// planHeld holds a visit of a patient who is not linked, to be sent when they link. A
// cancellation is held only when the visit may have reached ONDOC (while the patient
// was linked before): ONDOC may show it again after the new link, and it must not
// stay «Записан»; one ONDOC never saw is dropped.
func (c *Conn) planHeld(ctx context.Context, s *step, apptID, patientID string, start time.Time, v wireVisit) {
	if v.Status == visitCancelled {
		sentTo, _, err := c.store.sentVisit(ctx, apptID)
		if err != nil {
			s.err = connectors.Transient(fmt.Errorf("ondoc: state file: appointment %s: %w", apptID, err), 0)
			return
		}
		if sentTo == "" {
			s.local = func(ctx context.Context) error { return c.store.unhold(ctx, apptID) }
			return
		}
	}
	payload, _ := json.Marshal(v)
	s.local = func(ctx context.Context) error {
		c.log.Debug("appointment held until the patient links", "appointment", apptID)
		return c.store.hold(ctx, apptID, patientID, start, payload)
	}
}

// holdNotLinked is the notLinked bookkeeping of a visit: ONDOC refused it because the
// patient is not linked there, so medsync records the patient as unlinked and holds
// the visit as it holds every visit of an unlinked patient; it goes out on the next
// link. The "may have reached" mark stays: a hard delete is then still sent.
func (c *Conn) holdNotLinked(apptID, patientID string, start time.Time, v wireVisit) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := c.unlinkedByONDOC(ctx, patientID); err != nil {
			return err
		}
		payload, _ := json.Marshal(v)
		return c.store.hold(ctx, apptID, patientID, start, payload)
	}
}

// unlinkedByONDOC records that ONDOC answered that a patient is not linked.
func (c *Conn) unlinkedByONDOC(ctx context.Context, patientID string) error {
	linked, err := c.store.isLinked(ctx, patientID)
	if err != nil || !linked {
		return err
	}
	if err := c.store.setLinked(ctx, patientID, false, time.Time{}); err != nil {
		return err
	}
	c.log.Info("ONDOC has the patient as not linked to the clinic; their appointments are held until they link again", "patient", patientID)
	return nil
}

func (c *Conn) planAppointmentDelete(ctx context.Context, s *step) {
	held, err := c.store.isHeld(ctx, s.key)
	if err == nil && held {
		s.local = func(ctx context.Context) error { return c.store.unhold(ctx, s.key) }
		return
	}
	var patient string
	var start time.Time
	if err == nil {
		patient, start, err = c.store.sentVisit(ctx, s.key)
	}
	if err != nil {
		s.err = connectors.Transient(fmt.Errorf("ondoc: state file: appointment %s: %w", s.key, err), 0)
		return
	}
	if patient == "" {
		return // never sent to ONDOC, not even a request that may have reached it
	}
	v := wireVisit{MisID: s.key, PatientMisID: patient, Status: visitCancelled, CancelReason: reasonDeletedInMIS, IdempotencyKey: s.idem}
	s.ep, s.item = epVisits, v
	s.afterAck = func(ctx context.Context) error { return c.store.forgetSent(ctx, s.key) }
	if c.linkRequired {
		s.notLinked = c.holdNotLinked(s.key, patient, start, v)
	}
}

// planUnlink sends an unlink for a deleted patient card. ONDOC answering 404 (it does
// not know the patient as linked) counts as done.
func (c *Conn) planUnlink(s *step, patientID string) {
	s.ep, s.single, s.ok404 = epUnlink, true, true
	s.item = unlinkRequest{PatientMisID: patientID, Reason: unlinkCardDeleted}
	s.afterAck = func(ctx context.Context) error {
		if err := c.store.setLinked(ctx, patientID, false, time.Time{}); err != nil {
			return err
		}
		return c.store.dropHeldOfPatient(ctx, patientID)
	}
}
