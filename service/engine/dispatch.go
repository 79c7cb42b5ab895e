package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"medsync/connectors"
	"medsync/service/logging"
	"medsync/service/store"
)

// backoffDelay is exponential backoff with full jitter, capped: attempt 1 waits up to
// Initial, attempt n up to Initial·2^(n-1), never more than Max. The attempt count is
// kept per event in the outbox, so a stateless formula fits better than a ticker.
func backoffDelay(b Backoff, attempt int) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	// Jitter in [d/2, d): spreads retries without ever retrying instantly.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// DeliverResult counts what one delivery round did. PausedUntil is set when the
// connector's queue is paused because its peer asked to be called later.
type DeliverResult struct {
	Delivered, Retrying, DeadLettered int
	PausedUntil                       time.Time
}

// maxPause caps how long one Retry-After can pause a connector's queue (unless the
// configured backoff maximum is longer): a peer's typo must not stop delivery for days.
const maxPause = time.Hour

// compactAfter is how many events must have left the outbox in one delivery round
// before the state store hands the freed pages back to the disk (after a first sync of
// a big MIS that is hundreds of megabytes; small rounds reuse their pages anyway).
const compactAfter = 10000

// DeliverDue delivers every event of one target that is due now, batch by batch,
// until none is due. It returns what happened; err is a state store failure.
func (e *Engine) DeliverDue(ctx context.Context, t *Target) (res DeliverResult, err error) {
	defer func() {
		if res.Delivered+res.DeadLettered >= compactAfter {
			if err := e.o.Store.Compact(context.WithoutCancel(ctx)); err != nil {
				e.log.Warn("state store: cannot compact", "error", err)
			}
		}
	}()
	for ctx.Err() == nil {
		if p, err := e.o.Store.GetPause(ctx, t.Name); err != nil {
			return res, err
		} else if p.Until.After(e.o.Now()) {
			// The peer asked to be left alone until then: nothing of this
			// connector's queue goes out, whatever its events' own due times.
			res.PausedUntil = p.Until
			return res, nil
		}
		batch, err := e.o.Store.Due(ctx, t.Name, e.o.Now(), t.BatchSize)
		if err != nil {
			return res, err
		}
		if len(batch) == 0 {
			return res, nil
		}
		errs := safeDeliver(ctx, t.Conn, batch)
		if e.o.Hooks.AfterDeliver != nil {
			e.o.Hooks.AfterDeliver(t.Name)
		}
		if len(errs) != len(batch) {
			err := fmt.Errorf("connector %s returned %d results for %d events", t.Name, len(errs), len(batch))
			errs = make([]error, len(batch))
			for i := range errs {
				errs[i] = err
			}
		}
		outs, pause := e.outcomes(ctx, t, batch, errs, &res)
		// Outcomes are recorded even while stopping, in one transaction per batch.
		if err := e.o.Store.Record(context.WithoutCancel(ctx), t.Name, outs); err != nil {
			return res, err
		}
		if !pause.Until.IsZero() {
			// The rest of the queue waits with the event the peer refused for now.
			if err := e.o.Store.SetPause(context.WithoutCancel(ctx), t.Name, pause); err != nil {
				return res, err
			}
			e.log.Warn("connector paused: the peer asked to retry later (Retry-After); its whole queue waits",
				"connector", t.Name, "until", pause.Until.Format(time.RFC3339), "error", pause.Reason)
			res.PausedUntil = pause.Until
			return res, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return res, ctx.Err()
}

// outcomes turns a batch's delivery errors into what the outbox records: acknowledged,
// dead-lettered (permanent, or out of attempts) or retried after a backoff — at the
// earliest when the peer's Retry-After says, which also pauses the whole queue
// (the returned Pause; zero when no event carried one). Every error text is redacted
// before it is stored. Events interrupted by stopping stay queued untouched.
func (e *Engine) outcomes(ctx context.Context, t *Target, batch []connectors.Event, errs []error, res *DeliverResult) ([]store.Outcome, store.Pause) {
	outs := make([]store.Outcome, 0, len(batch))
	var pause store.Pause
	for i, ev := range batch {
		err := errs[i]
		switch {
		case err == nil:
			outs = append(outs, store.Outcome{Seq: ev.Seq, Idem: ev.IdempotencyKey, Entity: ev.Entity, Key: ev.Key, Result: store.OutcomeAcked})
			res.Delivered++
			e.o.Observer.Delivered(t.Name, ev.Entity, "ok", 1)
		case connectors.IsPermanent(err) || (e.o.Backoff.MaxAttempts > 0 && ev.Attempt >= e.o.Backoff.MaxAttempts):
			reason := e.redact(connectors.Reason(err), ev)
			outs = append(outs, store.Outcome{Seq: ev.Seq, Idem: ev.IdempotencyKey, Entity: ev.Entity, Key: ev.Key, Result: store.OutcomeDead, Reason: reason})
			res.DeadLettered++
			e.lastErr.Store(t.Name, reason)
			e.o.Observer.Delivered(t.Name, ev.Entity, "dead_letter", 1)
			e.log.Error("event dead-lettered: it will not be retried until replayed (medsync dlq list / replay)",
				"connector", t.Name, "entity", ev.Entity, "key", ev.Key, "op", ev.Op, "reason", reason)
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			// stopping: the event stays queued as it was
		default:
			delay := backoffDelay(e.o.Backoff, ev.Attempt)
			reason := e.redact(err.Error(), ev)
			if ra := e.capPause(connectors.RetryAfter(err)); ra > 0 {
				delay = max(delay, ra)
				if until := e.o.Now().Add(ra); until.After(pause.Until) {
					pause = store.Pause{Until: until, Reason: reason}
				}
			}
			outs = append(outs, store.Outcome{Seq: ev.Seq, Idem: ev.IdempotencyKey, Entity: ev.Entity, Key: ev.Key, Result: store.OutcomeRetry, Next: e.o.Now().Add(delay), Reason: reason})
			res.Retrying++
			e.lastErr.Store(t.Name, reason)
			e.o.Observer.Delivered(t.Name, ev.Entity, "retry", 1)
			e.log.Warn("delivery failed, will retry", "connector", t.Name, "entity", ev.Entity, "key", ev.Key,
				"attempt", ev.Attempt, "retry_in", delay.Round(time.Second).String(), "error", reason)
		}
	}
	return outs, pause
}

// redact is the text of a delivery error as it is stored and shown: secrets, link
// codes, e-mails, phones and the personal values of the event's own record masked
// (a peer may echo the rejected patient's name and birth date in its answer).
func (e *Engine) redact(text string, ev connectors.Event) string {
	return e.o.Redactor.RedactWith(text, logging.PersonalValues(ev.Data))
}

// capPause bounds a peer's Retry-After to max(maxPause, the backoff maximum).
func (e *Engine) capPause(ra time.Duration) time.Duration {
	if limit := max(maxPause, e.o.Backoff.Max); ra > limit {
		return limit
	}
	return ra
}

// safeDeliver calls the connector, turning a panic into transient errors so that a
// connector bug cannot take the daemon down.
func safeDeliver(ctx context.Context, c connectors.Connector, batch []connectors.Event) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			errs = make([]error, len(batch))
			for i := range errs {
				errs[i] = fmt.Errorf("connector panicked: %v", r)
			}
		}
	}()
	return c.Deliver(ctx, batch)
}

// Dispatch runs one delivery loop per target until ctx is done: it delivers what is
// due, then sleeps until the next event is due or a poll adds events.
func (e *Engine) Dispatch(ctx context.Context) {
	done := make(chan struct{})
	for _, t := range e.o.Targets {
		go func(t *Target) {
			defer func() { done <- struct{}{} }()
			e.dispatchLoop(ctx, t)
		}(t)
	}
	for range e.o.Targets {
		<-done
	}
}

func (e *Engine) dispatchLoop(ctx context.Context, t *Target) {
	for ctx.Err() == nil {
		if _, err := e.DeliverDue(ctx, t); err != nil && ctx.Err() == nil {
			e.log.Error("delivery loop: state store error", "connector", t.Name, "error", store.Explain(err))
		}
		wait := time.Minute
		if next, err := e.o.Store.NextDue(ctx, t.Name); err == nil && !next.IsZero() {
			if d := time.Until(next); d < wait {
				wait = d
			}
		}
		if p, err := e.o.Store.GetPause(ctx, t.Name); err == nil && p.Until.After(e.o.Now()) {
			wait = p.Until.Sub(e.o.Now()) // a poll's wake-up finds the queue still paused
		}
		if wait < 100*time.Millisecond {
			wait = 100 * time.Millisecond
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-e.wake[t.Name]:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// DeliverAll delivers what is due for every target once (used by `medsync once`).
func (e *Engine) DeliverAll(ctx context.Context) (map[string]DeliverResult, error) {
	out := map[string]DeliverResult{}
	var errs []error
	for _, t := range e.o.Targets {
		r, err := e.DeliverDue(ctx, t)
		out[t.Name] = r
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, store.Explain(err)))
		}
	}
	return out, errors.Join(errs...)
}

// LastError returns the last delivery error seen for a connector in this process.
func (e *Engine) LastError(connector string) string {
	if v, ok := e.lastErr.Load(connector); ok {
		return v.(string)
	}
	return ""
}

// RunConnectors calls Run of every target that implements connectors.Runner, in
// parallel, and waits for them.
func (e *Engine) RunConnectors(ctx context.Context) error {
	type result struct {
		name string
		err  error
	}
	ch := make(chan result)
	n := 0
	for _, t := range e.o.Targets {
		r, ok := t.Conn.(connectors.Runner)
		if !ok {
			continue
		}
		n++
		go func(name string, r connectors.Runner) {
			defer func() {
				if p := recover(); p != nil {
					ch <- result{name, fmt.Errorf("connector panicked: %v", p)}
				}
			}()
			ch <- result{name, r.Run(ctx, e.host(name))}
		}(t.Name, r)
	}
	var errs []error
	for i := 0; i < n; i++ {
		r := <-ch
		if r.err != nil && ctx.Err() == nil {
			e.log.Error("connector run failed", "connector", r.name, "error", r.err)
			errs = append(errs, fmt.Errorf("%s: %w", r.name, r.err))
		}
	}
	return errors.Join(errs...)
}

type host struct {
	e    *Engine
	name string
}

func (e *Engine) host(name string) connectors.Host { return &host{e: e, name: name} }

func (h *host) Logger() *slog.Logger      { return h.e.log.With("connector", h.name) }
func (h *host) StateDir() string          { return h.e.o.StateDir }
func (h *host) MIS() connectors.MISWriter { return h.e.o.MIS }
func (h *host) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	if !h.e.keepsData(entity) {
		return fmt.Errorf("the state store keeps no %s data: the connector's registry entry must list %q in Keeps", entity, entity)
	}
	return h.e.o.Store.Records(ctx, entity, fn)
}
