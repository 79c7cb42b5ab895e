package storm

import (
	"strconv"
	"testing"
	"time"

	"medsync/mapping/demo"
	"medsync/service/app/apptest"
)

// TestReturnToEarlierContent: a visit booked → cancelled → restored → cancelled again
// must end cancelled in an ONDOC that applies each idempotency key once. The content
// (and so the engine's idempotency key) of the second cancellation equals the first;
// before the wire key named the occurrence (Event.DeliveryKey), ONDOC answered it
// "duplicate" and kept showing the visit booked.
func TestReturnToEarlierContent(t *testing.T) {
	loc := moscow(t)
	db, driver, dsn, _ := demo.TestMIS(t, demo.SQLite, demo.Sizes{Branches: 1, Doctors: 2, Patients: 10, Appointments: 20, Days: 6, Today: time.Now().In(loc), Seed: 5})
	recv := newReceiver(t, 1)
	cfg := writeConfig(t, t.TempDir(), driver, dsn, recv.srv.URL)
	d := time.Now().In(loc).AddDate(0, 0, 2)
	id, err := demo.AddAppointment(t.Context(), db, demo.SQLite, demo.NewAppointment{PatientID: 3, DoctorID: 1,
		Start: time.Date(d.Year(), d.Month(), d.Day(), 21, 30, 0, 0, loc), Source: 1})
	if err != nil {
		t.Fatal(err)
	}
	recv.link("3")
	key := strconv.Itoa(id)
	steps := []struct {
		change func() error
		want   string
	}{
		{func() error { return nil }, stBooked},
		{func() error { return demo.CancelAppointment(t.Context(), db, demo.SQLite, id, 1) }, stCancelled},
		{func() error { return demo.RestoreAppointment(t.Context(), db, demo.SQLite, id) }, stBooked},
		{func() error { return demo.CancelAppointment(t.Context(), db, demo.SQLite, id, 1) }, stCancelled},
		{func() error { return demo.RestoreAppointment(t.Context(), db, demo.SQLite, id) }, stBooked},
	}
	for i, st := range steps {
		if err := st.change(); err != nil {
			t.Fatal(err)
		}
		apptest.Drain(t, cfg, 20)
		apptest.Drain(t, cfg, 20) // the first poll holds the visit; the connector's Run sends it on the link
		recv.mu.Lock()
		got := recv.visits[key].Status
		problems := recv.problems
		recv.mu.Unlock()
		if len(problems) > 0 {
			t.Fatalf("step %d: the receiver refused requests: %v", i, problems)
		}
		if got != st.want {
			t.Fatalf("step %d: ONDOC shows visit %s as %q, the MIS says %q (receiver: %v)", i, key, got, st.want, recv.stats)
		}
	}
}
