package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// refreshed are the entities a write to the MIS through a connector (a booking, a
// cancellation) changes: the appointment itself and the slots derived from it.
var refreshed = []string{mapping.EntityAppointment, mapping.EntitySlot}

// refreshCounter coalesces refreshes: requests are numbered as they arrive; a pass
// notes the highest number asked for before it starts reading, and a request whose
// number a finished pass covered needs no pass of its own (its write was committed
// before that pass read the MIS).
type refreshCounter struct {
	asked   atomic.Uint64
	covered uint64 // guarded by Engine.pollMu
	passes  atomic.Uint64
}

// Refresh implements connectors.Host.Refresh for the connector h serves.
func (h *host) Refresh(ctx context.Context, r connectors.RefreshRequest) error {
	return h.e.Refresh(ctx, r)
}

// Refresh brings the records a connector just changed in the MIS into the state store
// now: it re-reads the entities a booking changes (appointments and slots, those some
// connector takes) through the reader, commits them through the same differ as a poll
// (snapshot and outbox in one transaction, the same deletion and flip guards) and
// wakes every connector's delivery. With a version column or day summaries the
// appointment read touches only what moved; slots are derived again over the window.
// It holds the poll lock, so it waits for a running poll and a poll waits for it; the
// next poll then finds nothing new for these records. Requests that arrive while a
// poll or another refresh runs are served by one pass.
func (e *Engine) Refresh(ctx context.Context, r connectors.RefreshRequest) error {
	mine := e.refresh.asked.Add(1)
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	if e.refresh.covered >= mine {
		return nil // a pass that started after this request was made has committed it
	}
	prev, upTo := e.refresh.covered, e.refresh.asked.Load()
	t0 := time.Now()
	w := e.Window(e.o.Now())
	var errs []error
	n := 0
	sources := sourceOutcomes{} // slots follow the appointments refreshed before them
	for _, ent := range e.entities() {
		if !slices.Contains(refreshed, ent) {
			continue
		}
		es := e.pollEntity(ctx, ent, w, false, e.loadSnapshot(ctx, ent, true), sources)
		n += es.Upserts + es.Deletes
		if es.Error != "" {
			errs = append(errs, fmt.Errorf("refresh %s: %s", ent, es.Error))
		}
	}
	e.refresh.passes.Add(1)
	err := errors.Join(errs...)
	if err == nil {
		e.refresh.covered = upTo
	}
	e.notifyAll()
	e.log.Info("refresh after a write to the MIS", "why", r.Reason, "doctor", r.DoctorID, "requests", upTo-prev,
		"changes", n, "ms", time.Since(t0).Milliseconds(), "error", err)
	return err
}
