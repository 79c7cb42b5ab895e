package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestLoadPartial: a partial load holds, for the keys asked, exactly what a whole load
// holds — the latest copy, nothing for a key removed (or never there), a key removed
// and added again — and a commit over it appends to the log without compacting it,
// however stale the log, so a whole load afterwards has every record. With a span it
// also holds, at their current state, the keys a record of which lay in the span.
func TestLoadPartial(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 9000
	want := map[string]Entry{}
	span := [2]int64{100, 2000}
	everIn := map[string]bool{} // a record of the key had its instant in span
	put := func(k string, e Entry) {
		want[k] = e
		if e.At >= span[0] && e.At < span[1] {
			everIn[k] = true
		}
	}
	c := &Change{Entity: "appointment"}
	for i := 0; i < n; i++ {
		e := Entry{FP: uint64(i), Ver: 1, At: int64(i), Sum: uint32(i), HasSum: true}
		c.Puts = append(c.Puts, Put{Key: fmt.Sprint(i), Entry: e})
		put(fmt.Sprint(i), e)
	}
	if err := s.Commit(ctx, nil, c); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := 1; round <= 60; round++ {
		// Distinct keys, a few of them never in the snapshot.
		var keys []string
		picked := map[string]bool{}
		for len(keys) < 300 {
			if k := fmt.Sprint(rnd.IntN(n + 200)); !picked[k] {
				picked[k] = true
				keys = append(keys, k)
			}
		}
		snap, ok, err := s.LoadPartial(ctx, "appointment", PartialFilter{Keys: keys})
		if err != nil || !ok {
			t.Fatalf("round %d: LoadPartial: %v %v", round, ok, err)
		}
		if !snap.Partial() {
			t.Fatal("a partial load is not marked partial")
		}
		part := map[string]Entry{}
		for _, k := range keys {
			if e, ok := want[k]; ok {
				part[k] = e
			}
		}
		check(t, snap, part)
		// Change, remove and add back some of them, and add new ones.
		c := &Change{Entity: "appointment"}
		for j, k := range keys[:200] {
			switch {
			case j%7 == 0:
				if _, ok := want[k]; ok {
					c.Removes = append(c.Removes, k)
					delete(want, k)
				}
			default:
				e := Entry{FP: uint64(round*n + j), Ver: uint64(round), At: int64(rnd.IntN(n)), Sum: uint32(j), HasSum: j%3 == 0}
				if !e.HasSum {
					e.Sum = 0
				}
				c.Puts = append(c.Puts, Put{Key: k, Entry: e})
				put(k, e)
			}
		}
		if err := s.Commit(ctx, snap, c); err != nil {
			t.Fatal(err)
		}
	}
	whole, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		t.Fatal(err)
	}
	check(t, whole, want)
	// With a span: the keys asked, and every key a record of which ever lay in the
	// span, at its current state (wherever it lies now).
	keys := []string{"1", "5000", "8999", "9100"}
	part := map[string]Entry{}
	for k, e := range want {
		if everIn[k] || k == "1" || k == "5000" || k == "8999" || k == "9100" {
			part[k] = e
		}
	}
	spanned, ok, err := s.LoadPartial(ctx, "appointment", PartialFilter{Keys: keys, Spans: [][2]int64{span}})
	if err != nil || !ok {
		t.Fatalf("LoadPartial with a span: %v %v", ok, err)
	}
	check(t, spanned, part)
	moved := 0
	for k := range part {
		if at := part[k].At; everIn[k] && (at < span[0] || at >= span[1]) {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no record left the span: the test proves less than it should")
	}
	if !whole.CompactionDue(whole.Len(), 0) {
		t.Errorf("log of %d rows for %d records: compaction not due", whole.diskRows, whole.live)
	}
	// The next whole commit compacts it.
	if err := s.Commit(ctx, whole, &Change{Entity: "appointment", Puts: []Put{{Key: "x", Entry: Entry{FP: 1}}}}); err != nil {
		t.Fatal(err)
	}
	want["x"] = Entry{FP: 1}
	after, err := s.LoadSnapshot(ctx, "appointment")
	if err != nil {
		t.Fatal(err)
	}
	check(t, after, want)
	if after.diskRows != after.live {
		t.Errorf("after a whole commit: %d rows on disk for %d records, want it compacted", after.diskRows, after.live)
	}
}
