package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"medsync/connectors"
	"medsync/mapping"
)

// TestDeliverDuringKeepsTheOutboxSmall: a first poll committed in chunks is delivered
// while it reads, and the read waits for the delivery, so the outbox never holds
// much more than two chunks; every record arrives once.
func TestDeliverDuringKeepsTheOutboxSmall(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.eng.chunk = 5
	for i := 1; i <= 60; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	var mu sync.Mutex
	most := 0
	f.rec.failFn = func(connectors.Event) error {
		n := f.queued()
		mu.Lock()
		most = max(most, n)
		mu.Unlock()
		return nil
	}
	var s *PollSummary
	during, err := f.eng.DeliverDuring(context.Background(), func() { s = f.poll() })
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK() || s.Entities[0].Upserts != 60 {
		t.Fatalf("poll: %+v", s.Entities)
	}
	rest := f.deliver()
	if got := during["rec"].Delivered + rest.Delivered; got != 60 || len(f.rec.events()) != 60 {
		t.Fatalf("delivered %d during and %d after the poll, recorder has %d; want 60", during["rec"].Delivered, rest.Delivered, len(f.rec.events()))
	}
	if during["rec"].Delivered == 0 {
		t.Fatal("nothing was delivered while the poll read")
	}
	seen := map[string]bool{}
	for _, e := range f.rec.events() {
		if seen[e.Key] {
			t.Fatalf("%s delivered twice", e.Key)
		}
		seen[e.Key] = true
	}
	if most > 3*f.eng.chunk {
		t.Fatalf("the outbox held %d events during the poll; chunks are %d", most, f.eng.chunk)
	}
}
