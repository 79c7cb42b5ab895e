package ondoc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"medsync/connectors"
	"medsync/connectors/booking"
)

const kvCursor = "events_cursor"

// maxPages bounds one Run's walk over the events feed; the rest waits for the next poll.
const maxPages = 50

// Run pulls ONDOC's events feed once (all pages up to maxPages): bookings are written
// into the MIS and answered, cancellations soft-delete the MIS appointment, link and
// unlink notices update the link list (a link sends the patient's held appointments).
// When inbound_interval is set, a Run sooner than that after the previous pull only
// sends held appointments and returns; so does one before the moment ONDOC's
// Retry-After (on a 429 or 5xx of the feed) asked for. The feed cursor moves only after a page is fully
// handled, so a failure repeats the page next time; bookings are idempotent on the
// ONDOC booking id.
func (c *Conn) Run(ctx context.Context, host connectors.Host) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.backfill(ctx); err != nil {
		return err
	}
	now := c.now()
	if c.inboundEvery > 0 && !c.lastInbound.IsZero() && now.Sub(c.lastInbound) < c.inboundEvery {
		return nil
	}
	if now.Before(c.inboundAfter) {
		return nil // ONDOC's Retry-After
	}
	c.lastInbound = now
	in := &inbound{c: c, host: host, log: host.Logger()}
	if in.log == nil {
		in.log = c.log
	} else {
		in.log = in.log.With("connector", Name)
	}
	in.booker = booking.New(host, booking.Options{Zone: c.misZone, DaysAhead: c.daysAhead, Now: c.now, Logger: in.log})
	for page := 0; page < maxPages; page++ {
		cursor, err := c.store.get(ctx, kvCursor)
		if err != nil {
			return fmt.Errorf("ondoc: state file: events cursor: %w", err)
		}
		q := map[string]string{qLimit: strconv.Itoa(eventsPageSize)}
		if cursor != "" {
			q[qAfter] = cursor
		}
		var resp eventsResponse
		if err := c.call(ctx, epEvents, "", q, nil, &resp); err != nil {
			if d := connectors.RetryAfter(err); d > 0 {
				c.inboundAfter = c.now().Add(d)
			}
			return fmt.Errorf("ondoc: fetch bookings from ONDOC: %w", err)
		}
		for _, ev := range resp.Events {
			if err := in.handle(ctx, ev); err != nil {
				return err
			}
		}
		if resp.Next != "" && resp.Next != cursor {
			if err := c.store.set(ctx, kvCursor, resp.Next); err != nil {
				return fmt.Errorf("ondoc: state file: events cursor: %w", err)
			}
		}
		if !resp.More || len(resp.Events) == 0 {
			break
		}
	}
	return nil
}

type inbound struct {
	c      *Conn
	host   connectors.Host
	log    *slog.Logger
	booker *booking.Booker // the one booking path (connectors/booking)
}

func (in *inbound) handle(ctx context.Context, ev feedEvent) error {
	c := in.c
	switch ev.Type {
	case evPatientLinked:
		if ev.PatientMisID == "" {
			return nil
		}
		applied, err := c.store.linkNotice(ctx, ev.ID, ev.PatientMisID, true, c.now())
		if err != nil {
			return fmt.Errorf("ondoc: state file: link patient %s: %w", ev.PatientMisID, err)
		}
		if !applied {
			return nil // read again with its page: applied before
		}
		c.log.Info("patient linked in ONDOC", "patient", ev.PatientMisID)
		return c.backfill(ctx)
	case evPatientUnlinked:
		if ev.PatientMisID == "" {
			return nil
		}
		applied, err := c.store.linkNotice(ctx, ev.ID, ev.PatientMisID, false, c.now())
		if err != nil {
			return fmt.Errorf("ondoc: state file: unlink %s: %w", ev.PatientMisID, err)
		}
		if applied {
			c.log.Info("patient unlinked in ONDOC", "patient", ev.PatientMisID)
		}
		return nil
	case evBookingCreated:
		if ev.Booking == nil || ev.Booking.BookingID == "" {
			in.log.Warn("ONDOC booking event without a booking id skipped", "event", ev.ID)
			return nil
		}
		return in.book(ctx, ev.Booking)
	case evBookingCancelled:
		if ev.Booking == nil || ev.Booking.BookingID == "" {
			in.log.Warn("ONDOC cancellation without a booking id skipped", "event", ev.ID)
			return nil
		}
		return in.cancel(ctx, ev.Booking)
	default:
		in.log.Warn("unknown ONDOC event type skipped", "event", ev.ID, "type", ev.Type)
		return nil
	}
}

// supported reports whether the profile declares the statements; otherwise it logs
// once that the profile does not support this.
func (in *inbound) supported(what string, ok bool, missing []string) bool {
	if ok {
		return true
	}
	if !in.c.warnedOnce[what] {
		in.c.warnedOnce[what] = true
		in.log.Warn("inbound " + what + " from ONDOC are unsupported for this MIS profile: it declares no write statements " +
			fmt.Sprint(missing) + "; nothing is written to the MIS (switch online booking off in the ONDOC clinic account, or use a profile with these statements)")
	}
	return false
}

func (in *inbound) book(ctx context.Context, b *feedBooking) error {
	c := in.c
	if prev, err := c.store.answer(ctx, b.BookingID); err != nil {
		return fmt.Errorf("ondoc: state file: booking %s: %w", b.BookingID, err)
	} else if prev != nil {
		// ONDOC sent the booking again (it may have missed our answer): the same
		// answer again, with the same idempotency key.
		prev.Answered = false
		return in.sendAnswer(ctx, b.BookingID, *prev)
	}
	if ok, missing := in.booker.Supported(); !in.supported("bookings", ok, missing) {
		return nil
	}
	a, err := in.write(ctx, b)
	if err != nil {
		return fmt.Errorf("ondoc: write ONDOC booking %s into the MIS: %w", b.BookingID, err)
	}
	if err := c.store.saveAnswer(ctx, b.BookingID, a, c.now()); err != nil {
		return fmt.Errorf("ondoc: state file: booking %s: %w", b.BookingID, err)
	}
	return in.sendAnswer(ctx, b.BookingID, a)
}

func (in *inbound) sendAnswer(ctx context.Context, bookingID string, a answer) error {
	c := in.c
	if a.Answered {
		return nil
	}
	body := bookingAnswer{BookingID: bookingID, Result: a.Result, MisVisitID: a.MisID, ReasonCode: a.ReasonCode}
	if a.ReasonCode != "" {
		body.ReasonText = reasonText[a.ReasonCode]
	}
	if err := c.call(ctx, epAnswer, "answer-"+bookingID, nil, body, nil); err != nil {
		return fmt.Errorf("ondoc: answer booking %s: %w", bookingID, err)
	}
	a.Answered = true
	if err := c.store.saveAnswer(ctx, bookingID, a, c.now()); err != nil {
		return fmt.Errorf("ondoc: state file: booking %s: %w", bookingID, err)
	}
	if a.Result == answerConfirmed {
		c.log.Info("ONDOC booking written into the MIS", "booking", bookingID, "appointment", a.MisID)
	} else {
		c.log.Info("ONDOC booking rejected", "booking", bookingID, "reason", a.ReasonCode)
	}
	return nil
}

// write books through the shared booking path and returns the answer for ONDOC: a
// refusal is an answer, a MIS failure an error (the feed page is repeated later).
func (in *inbound) write(ctx context.Context, b *feedBooking) (answer, error) {
	start, err1 := parseTime(b.Start)
	end, err2 := parseTime(b.End)
	if err1 != nil || err2 != nil {
		in.log.Warn("ONDOC booking with an unreadable time rejected", "booking", b.BookingID, "start", b.Start, "end", b.End)
		return answer{Result: answerRejected, ReasonCode: reasonInvalidBooking}, nil
	}
	res, err := in.booker.Book(ctx, booking.Request{
		Channel: Name, ExtID: b.BookingID, DoctorID: b.DoctorMisID, PatientID: b.PatientMisID, BranchID: b.FilialMisID,
		ServiceIDs: b.ServiceMisIDs, Start: start, End: end, Comment: b.Comment,
	})
	var ref *booking.Refusal
	if errors.As(err, &ref) {
		return answer{Result: answerRejected, ReasonCode: reasonFor(ref.Code)}, nil
	}
	if err != nil {
		return answer{}, err
	}
	return answer{Result: answerConfirmed, MisID: res.AppointmentID}, nil
}

func (in *inbound) cancel(ctx context.Context, b *feedBooking) error {
	if ok, missing := in.booker.CancelSupported(); !in.supported("cancellations", ok, missing) {
		return nil
	}
	_, err := in.booker.Cancel(ctx, booking.CancelRequest{Channel: Name, ExtID: b.BookingID, Reason: booking.ReasonPatient, Comment: b.Reason})
	var ref *booking.Refusal
	if errors.As(err, &ref) {
		in.log.Info("ONDOC cancellation of a booking the MIS does not have: nothing to cancel", "booking", b.BookingID, "code", ref.Code)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ondoc: cancel ONDOC booking %s in the MIS: %w", b.BookingID, err)
	}
	return nil
}
