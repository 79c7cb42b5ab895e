package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// refreshed are the entities a write to the MIS through a connector (a booking, a
// cancellation) changes: the appointment itself and the slots derived from it.
var refreshed = []string{mapping.EntityAppointment, mapping.EntitySlot}

// Refresh implements connectors.Host.Refresh for the connector h serves.
func (h *host) Refresh(ctx context.Context, r connectors.RefreshRequest) error {
	return h.e.Refresh(ctx, r)
}

// Refresh brings the records a connector just changed in the MIS into the state store
// now: it re-reads the entities a booking changes (appointments and slots, those some
// connector takes) through the reader, commits them through the same differ as a poll
// (snapshot and outbox in one transaction, the same deletion and flip guards) and
// wakes every connector's delivery. It holds the poll lock, so it waits for a running
// poll and a poll waits for it; the next poll then finds nothing new for these records.
func (e *Engine) Refresh(ctx context.Context, r connectors.RefreshRequest) error {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	t0 := time.Now()
	w := e.Window(e.o.Now())
	var errs []error
	n := 0
	sources := sourceOutcomes{} // slots follow the appointments refreshed before them
	for _, ent := range e.entities() {
		if !slices.Contains(refreshed, ent) {
			continue
		}
		es := e.pollEntity(ctx, ent, w, false, e.loadSnapshot(ctx, ent), sources)
		n += es.Upserts + es.Deletes
		if es.Error != "" {
			errs = append(errs, fmt.Errorf("refresh %s: %s", ent, es.Error))
		}
	}
	e.notifyAll()
	e.log.Info("refresh after a write to the MIS", "why", r.Reason, "doctor", r.DoctorID, "changes", n,
		"ms", time.Since(t0).Milliseconds(), "error", errors.Join(errs...))
	return errors.Join(errs...)
}
