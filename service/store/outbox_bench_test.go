package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkOutboxCycle: the outbox work of one event of a first poll — enqueued with
// its snapshot entry, read back for delivery, acknowledged — in batches of 1000:
// "single" as one outbox row per event (every small poll), "batch" as a big read's
// chunks are (one batch row per connector batch, batch.go).
func BenchmarkOutboxCycle(b *testing.B) {
	b.Run("single", func(b *testing.B) { outboxCycle(b, false) })
	b.Run("batch", func(b *testing.B) { outboxCycle(b, true) })
}

func outboxCycle(b *testing.B, batched bool) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := []byte(`{"id":"1000001","patient_id":"42","doctor_id":"7","date":"2026-12-01","start_time":"09:30","status":"booked","comment":"Перезвонить накануне"}`)
	const batch = 1000
	snap, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		c := &Change{Entity: "appointment"}
		if batched {
			c.Batch, c.Poll = map[string]int{"file": batch}, "bench"
		}
		for i := n; i < n+batch; i++ {
			k := fmt.Sprint(i)
			c.Puts = append(c.Puts, Put{Key: k, Entry: Entry{FP: uint64(i)}})
			c.Events = append(c.Events, OutEvent{Connector: "file", Entity: "appointment", Key: k, Op: "upsert", Idem: fmt.Sprintf("%032x", i), Fingerprint: fmt.Sprintf("%016x", i), At: time.Now(), Data: data})
		}
		if err := s.Commit(ctx, snap, c); err != nil {
			b.Fatal(err)
		}
		evs, err := s.Due(ctx, "file", time.Now(), batch)
		if err != nil || len(evs) != batch {
			b.Fatalf("due: %d, %v", len(evs), err)
		}
		outs := make([]Outcome, len(evs))
		for i, e := range evs {
			outs[i] = Outcome{Seq: e.Seq, Idem: e.IdempotencyKey, Result: OutcomeAcked}
		}
		if err := s.Record(ctx, "file", outs); err != nil {
			b.Fatal(err)
		}
	}
}
