package ondoc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/convert"
)

// Names of the profile's write statements the inbound side uses (files
// mapping/profiles/<profile>/<dialect>.booking.sql).
const (
	stmtLock     = "write.book_lock"     // :doctor_id; optional, run first to serialise bookings of a doctor
	stmtFindExt  = "write.book_find_ext" // :ext_id → id, deleted
	stmtCheck    = "write.book_check"    // :doctor_id, :patient_id, :wdate, :bhour, :ehour → doctor_ok, patient_ok, busy
	stmtInsert   = "write.book_insert"   // :ext_id, :patient_id, :doctor_id, :wdate, :bhour, :ehour, :comment, :modifydate
	stmtServices = "write.book_services" // :ext_id, :service_id (optional statement)
	stmtCancel   = "write.cancel_ext"    // :ext_id, :reason_text, :modifydate
)

// cancelReasonByPatient is the DELREASONS text used for cancellations made in ONDOC.
const cancelReasonByPatient = "Пациент отменил запись"

const kvCursor = "events_cursor"

// maxPages bounds one Run's walk over the events feed; the rest waits for the next poll.
const maxPages = 50

// Run pulls ONDOC's events feed once (all pages up to maxPages): bookings are written
// into the MIS and answered, cancellations soft-delete the MIS appointment, link and
// unlink notices update the link list (a link sends the patient's held appointments).
// When inbound_interval is set, a Run sooner than that after the previous pull only
// sends held appointments and returns. The feed cursor moves only after a page is fully
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
	c.lastInbound = now
	in := &inbound{c: c, host: host, log: host.Logger()}
	if in.log == nil {
		in.log = c.log
	} else {
		in.log = in.log.With("connector", Name)
	}
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
	c     *Conn
	host  connectors.Host
	log   *slog.Logger
	zones map[string]*time.Location // branch id → zone, from the synced branch records
}

func (in *inbound) handle(ctx context.Context, ev feedEvent) error {
	c := in.c
	switch ev.Type {
	case evPatientLinked:
		if ev.PatientMisID == "" {
			return nil
		}
		c.log.Info("patient linked in ONDOC", "patient", ev.PatientMisID)
		return c.linked(ctx, ev.PatientMisID)
	case evPatientUnlinked:
		if ev.PatientMisID == "" {
			return nil
		}
		c.log.Info("patient unlinked in ONDOC", "patient", ev.PatientMisID)
		if err := c.store.setLinked(ctx, ev.PatientMisID, false, time.Time{}); err != nil {
			return fmt.Errorf("ondoc: state file: unlink %s: %w", ev.PatientMisID, err)
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

// writer returns the MIS writer when it declares the named statements; otherwise it
// logs once that the profile does not support this and returns nil.
func (in *inbound) writer(what string, names ...string) connectors.MISWriter {
	w := in.host.MIS()
	ok := w != nil
	for _, n := range names {
		if ok && !w.Has(n) {
			ok = false
		}
	}
	if ok {
		return w
	}
	if !in.c.warnedOnce[what] {
		in.c.warnedOnce[what] = true
		in.log.Warn("inbound " + what + " from ONDOC are unsupported for this MIS profile: it declares no write statements " +
			fmt.Sprint(names) + "; nothing is written to the MIS (switch online booking off in the ONDOC clinic account, or use a profile with these statements)")
	}
	return nil
}

// misID passes an id to SQL as a number when it is one (the legacy schema uses int
// keys), else as text.
func misID(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	return s
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
	w := in.writer("bookings", stmtFindExt, stmtCheck, stmtInsert)
	if w == nil {
		return nil
	}
	a, err := in.write(ctx, w, b)
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

// zone returns the zone the MIS keeps the branch's wall times in.
func (in *inbound) zone(ctx context.Context, branchID string, t time.Time) *time.Location {
	if in.zones == nil {
		in.zones = map[string]*time.Location{}
		_ = in.host.Records(ctx, mapping.EntityBranch, func(key string, data json.RawMessage) error {
			var b mapping.Branch
			if json.Unmarshal(data, &b) == nil && b.TimeZone != "" {
				if loc, err := convert.LoadZone(b.TimeZone); err == nil {
					in.zones[key] = loc
				}
			}
			return nil
		})
	}
	if loc, ok := in.zones[branchID]; ok {
		return loc
	}
	if in.c.zone != nil {
		return in.c.zone
	}
	return t.Location()
}

var errReject = errors.New("rejected")

// write books into the MIS in one transaction and returns the answer for ONDOC.
func (in *inbound) write(ctx context.Context, w connectors.MISWriter, b *feedBooking) (answer, error) {
	reject := func(code string) (answer, error) {
		return answer{Result: answerRejected, ReasonCode: code}, nil
	}
	start, err1 := parseTime(b.Start)
	end, err2 := parseTime(b.End)
	if err1 != nil || err2 != nil || !end.After(start) || b.DoctorMisID == "" {
		in.log.Warn("ONDOC booking with unusable time or doctor rejected", "booking", b.BookingID, "start", b.Start, "end", b.End)
		return reject(reasonInvalidBooking)
	}
	if b.PatientMisID == "" {
		return reject(reasonPatientNotFound)
	}
	loc := in.zone(ctx, b.FilialMisID, start)
	ls, le := start.In(loc), end.In(loc)
	day := convert.FromTime(ls)
	endDay := convert.FromTime(le)
	sinceMidnight := func(t time.Time) time.Duration {
		h, m, s := t.Clock()
		return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
	}
	bh, eh := sinceMidnight(ls), sinceMidnight(le)
	if endDay != day {
		if endDay == day.AddDays(1) && eh == 0 {
			eh = 24 * time.Hour
		} else {
			return reject(reasonInvalidBooking)
		}
	}
	params := map[string]any{
		"ext_id":     b.BookingID,
		"patient_id": misID(b.PatientMisID),
		"doctor_id":  misID(b.DoctorMisID),
		"wdate":      convert.ToOLE(day),
		"bhour":      convert.ToDayFraction(bh),
		"ehour":      convert.ToDayFraction(eh),
		"comment":    nullIfEmpty(b.Comment),
		"modifydate": convert.ToOLEDateTime(in.c.now().In(loc)),
	}
	var out answer
	err := w.Tx(ctx, func(tx connectors.MISTx) error {
		if w.Has(stmtLock) {
			// First, in a statement of its own: later reads see bookings committed
			// by whoever held the lock before us.
			if _, err := tx.Exec(ctx, stmtLock, map[string]any{"doctor_id": params["doctor_id"]}); err != nil {
				return fmt.Errorf("%s: %w", stmtLock, err)
			}
		}
		if id, found, err := findExt(ctx, tx, b.BookingID); err != nil {
			return err
		} else if found {
			out = answer{Result: answerConfirmed, MisID: id}
			return nil
		}
		doctorOK, patientOK, busy, err := check(ctx, tx, params)
		if err != nil {
			return err
		}
		switch {
		case !doctorOK:
			out = answer{Result: answerRejected, ReasonCode: reasonDoctorNotBookable}
			return errReject
		case !patientOK:
			out = answer{Result: answerRejected, ReasonCode: reasonPatientNotFound}
			return errReject
		case busy:
			out = answer{Result: answerRejected, ReasonCode: reasonSlotTaken}
			return errReject
		}
		res, err := tx.Exec(ctx, stmtInsert, params)
		if err != nil {
			return fmt.Errorf("%s: %w", stmtInsert, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			out = answer{Result: answerRejected, ReasonCode: reasonDoctorNotBookable}
			return errReject
		}
		if w.Has(stmtServices) {
			for _, sid := range b.ServiceMisIDs {
				if _, err := tx.Exec(ctx, stmtServices, map[string]any{"ext_id": b.BookingID, "service_id": misID(sid)}); err != nil {
					return fmt.Errorf("%s (service %s): %w", stmtServices, sid, err)
				}
			}
		}
		id, found, err := findExt(ctx, tx, b.BookingID)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s inserted no row findable by %s", stmtInsert, stmtFindExt)
		}
		out = answer{Result: answerConfirmed, MisID: id}
		return nil
	})
	if errors.Is(err, errReject) {
		return out, nil
	}
	return out, err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func findExt(ctx context.Context, tx connectors.MISTx, ext string) (id string, found bool, err error) {
	rows, err := tx.Query(ctx, stmtFindExt, map[string]any{"ext_id": ext})
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", stmtFindExt, err)
	}
	defer rows.Close()
	if rows.Next() {
		var v sql.NullString
		var deleted sql.NullInt64
		if err := scanFirst(rows, &v, &deleted); err != nil {
			return "", false, fmt.Errorf("%s: %w", stmtFindExt, err)
		}
		return v.String, true, nil
	}
	return "", false, rows.Err()
}

// scanFirst scans the first column into id and the second, when present, into extra.
func scanFirst(rows *sql.Rows, id *sql.NullString, extra *sql.NullInt64) error {
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	dest := []any{id}
	for i := 1; i < len(cols); i++ {
		if i == 1 {
			dest = append(dest, extra)
		} else {
			dest = append(dest, new(any))
		}
	}
	return rows.Scan(dest...)
}

func check(ctx context.Context, tx connectors.MISTx, params map[string]any) (doctorOK, patientOK, busy bool, err error) {
	rows, err := tx.Query(ctx, stmtCheck, params)
	if err != nil {
		return false, false, false, fmt.Errorf("%s: %w", stmtCheck, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return false, false, false, rows.Err() // no such doctor
	}
	var d, p, b sql.NullInt64
	if err := rows.Scan(&d, &p, &b); err != nil {
		return false, false, false, fmt.Errorf("%s must return doctor_ok, patient_ok, busy: %w", stmtCheck, err)
	}
	return d.Int64 > 0, p.Int64 > 0, b.Int64 > 0, rows.Err()
}

func (in *inbound) cancel(ctx context.Context, b *feedBooking) error {
	w := in.writer("cancellations", stmtCancel)
	if w == nil {
		return nil
	}
	loc := in.c.zone
	if loc == nil {
		loc = time.Local
	}
	if start, err := parseTime(b.Start); err == nil {
		loc = in.zone(ctx, b.FilialMisID, start)
	}
	reason := cancelReasonByPatient
	var n int64
	err := w.Tx(ctx, func(tx connectors.MISTx) error {
		res, err := tx.Exec(ctx, stmtCancel, map[string]any{
			"ext_id": b.BookingID, "reason_text": reason, "modifydate": convert.ToOLEDateTime(in.c.now().In(loc)),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", stmtCancel, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return fmt.Errorf("ondoc: cancel ONDOC booking %s in the MIS: %w", b.BookingID, err)
	}
	if n > 0 {
		in.c.log.Info("ONDOC cancellation written into the MIS", "booking", b.BookingID, "why", b.Reason)
	}
	return nil
}
