package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// A write through a connector is committed by Refresh, through the differ, before the
// next poll: the appointment's event is queued (and the dispatcher woken) at once, the
// entities a booking does not change wait for the poll, and the poll then finds the
// appointment unchanged.
func TestRefreshCommitsTheWrittenRecordsNow(t *testing.T) {
	f := newFixture(t)
	f.mem.put(doctor("1", "Иванова"), "")
	if s := f.poll(); !s.OK() {
		t.Fatal(s.Err())
	}
	f.deliver()
	f.rec.reset()
	for len(f.eng.wake["rec"]) > 0 {
		<-f.eng.wake["rec"]
	}

	f.mem.put(appt("10", f.now.Add(24*time.Hour), mapping.StatusBooked), "") // booked through a connector
	f.mem.put(doctor("1", "Иванова-Смирнова"), "")                           // changed at the desk meanwhile
	h := f.eng.host("rec")
	if err := h.Refresh(context.Background(), connectors.RefreshRequest{Reason: "test", DoctorID: "1", AppointmentIDs: []string{"10"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.eng.wake["rec"]:
	default:
		t.Error("Refresh did not wake the connector's delivery")
	}
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:10"})

	f.rec.reset()
	f.poll()
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"doctor:upsert:1"})
}

// Refreshes asked for while a poll runs wait for it and are then served by one pass.
func TestRefreshesCoalesce(t *testing.T) {
	f := newFixture(t)
	f.mem.put(doctor("1", "Иванова"), "")
	reads := 0
	inPoll, release := make(chan struct{}), make(chan struct{})
	f.hooks.AfterRead = func(e string) {
		if e != mapping.EntityAppointment {
			return
		}
		reads++
		if reads == 1 {
			close(inPoll)
			<-release
		}
	}
	done := make(chan struct{})
	go func() { f.poll(); close(done) }()
	<-inPoll
	const n = 5
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- f.eng.Refresh(context.Background(), connectors.RefreshRequest{Reason: fmt.Sprint("booking ", i)})
		}()
	}
	for f.eng.refresh.asked.Load() < n {
		time.Sleep(time.Millisecond)
	}
	f.mem.put(appt("10", f.now.Add(24*time.Hour), mapping.StatusBooked), "") // committed after the poll read appointments
	close(release)
	<-done
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p := f.eng.refresh.passes.Load(); p != 1 {
		t.Errorf("%d refresh passes for %d requests during one poll, want 1", p, n)
	}
	f.deliver()
	eq(t, ops(f.rec.events()), []string{"appointment:upsert:10", "doctor:upsert:1"})
}
