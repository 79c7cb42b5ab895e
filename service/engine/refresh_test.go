package engine

import (
	"context"
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
