package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/service/store"
)

func slot(id string, start time.Time, free bool) *mapping.Slot {
	return &mapping.Slot{ID: id, DoctorID: "1", BranchID: "1", ShiftID: "s1", Start: start, End: start.Add(30 * time.Minute), Free: free}
}

func summary(t *testing.T, s *PollSummary, entity string) EntitySummary {
	t.Helper()
	for _, e := range s.Entities {
		if e.Entity == entity {
			return e
		}
	}
	t.Fatalf("no %s in the poll", entity)
	return EntitySummary{}
}

// slotEvents returns the slot keys sent, in order.
func slotEvents(f *fixture) []string {
	var out []string
	for _, ev := range f.rec.events() {
		if ev.Entity == mapping.EntitySlot {
			out = append(out, ev.Key)
		}
	}
	return out
}

// busyDay puts n appointments and their n busy slots on the day of at.
func busyDay(f *fixture, prefix string, at time.Time, n int) {
	for i := 0; i < n; i++ {
		start := at.Add(time.Duration(i) * 30 * time.Minute)
		f.mem.put(appt(fmt.Sprintf("%s%d", prefix, i), start, mapping.StatusBooked), "")
		f.mem.put(slot(fmt.Sprintf("%s-slot%d", prefix, i), start, false), "")
	}
}

// TestSlotsDoNotFreeWhileAppointmentsAreInDoubt: a slot never turns free on the
// strength of an appointment read that failed (DESIGN.md invariant 9): the change is
// postponed, the snapshot keeps the busy state, and it goes out once the appointments
// are read.
func TestSlotsDoNotFreeWhileAppointmentsAreInDoubt(t *testing.T) {
	f := newFixture(t, mapping.EntityAppointment, mapping.EntitySlot)
	day := f.now.Add(24 * time.Hour)
	busyDay(f, "a", day, 4)
	f.poll()
	f.deliver()
	f.rec.reset()

	f.mem.del(mapping.EntityAppointment, "a0")
	f.mem.put(slot("a-slot0", day, true), "")
	f.mem.fail[mapping.EntityAppointment] = errors.New("connection reset")
	s := f.poll()
	f.deliver()
	if e := summary(t, s, mapping.EntitySlot); e.Upserts != 0 || e.HeldFlips != 0 || e.Error != "" {
		t.Fatalf("slot while appointments failed: %+v", e)
	}
	eq(t, slotEvents(f), nil)

	delete(f.mem.fail, mapping.EntityAppointment)
	s = f.poll()
	f.deliver()
	if e := summary(t, s, mapping.EntityAppointment); e.Deletes != 1 {
		t.Fatalf("appointment: %+v", e)
	}
	eq(t, slotEvents(f), []string{"a-slot0"})
}

// TestHeldDeletionsHoldTheSlotsTheyFree: appointment deletions held by the guard hold
// the busy → free changes near them; a slot freed elsewhere (a cancellation days
// away) goes out; confirming releases both, and the held changes are listed with
// their kind.
func TestHeldDeletionsHoldTheSlotsTheyFree(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, mapping.EntityAppointment, mapping.EntitySlot)
	day := f.now.Add(24 * time.Hour)
	busyDay(f, "a", day, 8)
	busyDay(f, "b", day.Add(5*24*time.Hour), 2)
	f.poll()
	f.deliver()
	f.rec.reset()

	for i := 0; i < 8; i++ { // 8 of 10 vanish: more than max(3, 0.5 × 10)
		f.mem.del(mapping.EntityAppointment, fmt.Sprintf("a%d", i))
		f.mem.put(slot(fmt.Sprintf("a-slot%d", i), day.Add(time.Duration(i)*30*time.Minute), true), "")
	}
	f.mem.put(appt("b0", day.Add(5*24*time.Hour), mapping.StatusCancelled), "")
	f.mem.put(slot("b-slot0", day.Add(5*24*time.Hour), true), "")
	s := f.poll()
	f.deliver()
	if e := summary(t, s, mapping.EntityAppointment); e.Held != 8 || e.Deletes != 0 {
		t.Fatalf("appointment: %+v", e)
	}
	if e := summary(t, s, mapping.EntitySlot); e.HeldFlips != 8 || e.Upserts != 1 {
		t.Fatalf("slot: %+v", e)
	}
	eq(t, slotEvents(f), []string{"b-slot0"})
	held, err := f.st.HeldDeletions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, h := range held {
		kinds[h.Entity+"/"+h.Kind]++
	}
	if kinds["appointment/delete"] != 8 || kinds["slot/flip"] != 8 || len(kinds) != 2 {
		t.Fatalf("held rows: %v", kinds)
	}

	// Still held on the next poll.
	f.rec.reset()
	f.poll()
	f.deliver()
	eq(t, slotEvents(f), nil)

	if _, err := f.st.ConfirmHeld(ctx, mapping.EntityAppointment, mapping.EntitySlot); err != nil {
		t.Fatal(err)
	}
	s = f.poll()
	f.deliver()
	if e := summary(t, s, mapping.EntityAppointment); e.Deletes != 8 {
		t.Fatalf("appointment after confirm: %+v", e)
	}
	if e := summary(t, s, mapping.EntitySlot); e.Upserts != 8 || e.HeldFlips != 0 {
		t.Fatalf("slot after confirm: %+v", e)
	}
	if held, _ := f.st.HeldDeletions(ctx); len(held) != 0 {
		t.Fatalf("held rows left after release: %+v", held)
	}
}

// TestMassFlipIsHeld: with no appointment entity to follow, a mass busy → free of
// slots is held like a mass deletion, by the same limits.
func TestMassFlipIsHeld(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, mapping.EntitySlot)
	day := f.now.Add(24 * time.Hour)
	for i := 0; i < 10; i++ {
		f.mem.put(slot(fmt.Sprint("s", i), day.Add(time.Duration(i)*30*time.Minute), false), "")
	}
	f.poll()
	f.deliver()
	f.rec.reset()
	for i := 0; i < 8; i++ {
		f.mem.put(slot(fmt.Sprint("s", i), day.Add(time.Duration(i)*30*time.Minute), true), "")
	}
	s := f.poll()
	f.deliver()
	if e := summary(t, s, mapping.EntitySlot); e.HeldFlips != 8 || e.Upserts != 0 {
		t.Fatalf("mass flip: %+v", e)
	}
	eq(t, slotEvents(f), nil)
	if n, err := f.st.ConfirmHeld(ctx, mapping.EntitySlot); err != nil || n != 8 {
		t.Fatalf("confirm: %d %v", n, err)
	}
	f.poll()
	f.deliver()
	if got := slotEvents(f); len(got) != 8 {
		t.Fatalf("after confirm %d slot events", len(got))
	}
	held, _ := f.st.HeldDeletions(ctx)
	if len(held) != 0 {
		t.Fatalf("held left: %+v", held)
	}
}

// TestConfirmedFlipSurvivesAPostponedPoll: a confirmed flip that a poll cannot decide
// (the appointment read failed) stays confirmed instead of being released unsent.
func TestConfirmedFlipSurvivesAPostponedPoll(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, mapping.EntityAppointment, mapping.EntitySlot)
	day := f.now.Add(24 * time.Hour)
	for i := 0; i < 10; i++ {
		f.mem.put(slot(fmt.Sprint("s", i), day.Add(time.Duration(i)*30*time.Minute), false), "")
	}
	f.poll()
	f.deliver()
	f.rec.reset()
	for i := 0; i < 8; i++ {
		f.mem.put(slot(fmt.Sprint("s", i), day.Add(time.Duration(i)*30*time.Minute), true), "")
	}
	if e := summary(t, f.poll(), mapping.EntitySlot); e.HeldFlips != 8 {
		t.Fatalf("mass flip: %+v", e)
	}
	if _, err := f.st.ConfirmHeld(ctx); err != nil {
		t.Fatal(err)
	}
	f.mem.fail[mapping.EntityAppointment] = errors.New("timeout")
	f.poll()
	f.deliver()
	eq(t, slotEvents(f), nil)
	held, _ := f.st.HeldDeletions(ctx)
	confirmed := 0
	for _, h := range held {
		if h.Kind == store.HeldFlip && h.Confirmed {
			confirmed++
		}
	}
	if confirmed != 8 {
		t.Fatalf("after a postponed poll %d confirmed flips left, want 8: %+v", confirmed, held)
	}
	delete(f.mem.fail, mapping.EntityAppointment)
	f.poll()
	f.deliver()
	if got := slotEvents(f); len(got) != 8 {
		t.Fatalf("after the appointments read again: %d slot events", len(got))
	}
}
