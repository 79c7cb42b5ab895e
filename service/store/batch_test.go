package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
)

// batchStore opens a store and returns a function committing a chunk of events for
// connector "c": keys, fingerprint fp, queued as batch rows of size (0: single rows)
// for poll.
func batchStore(t *testing.T) (*Store, func(poll string, size int, fp string, keys ...string)) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.FixedZone("MSK", 3*3600))
	commit := func(poll string, size int, fp string, keys ...string) {
		t.Helper()
		c := &Change{Entity: "appointment", Poll: poll}
		if size > 0 {
			c.Batch = map[string]int{"c": size}
		}
		for _, k := range keys {
			c.Puts = append(c.Puts, Put{Key: k, Entry: Entry{FP: 1}})
			c.Events = append(c.Events, OutEvent{Connector: "c", Entity: "appointment", Key: k, Op: connectors.OpUpsert,
				Idem: k + "-" + fp, Fingerprint: fp, At: at, Data: []byte(`{"id":"` + k + `","v":"` + fp + `"}`)})
		}
		if err := s.Commit(ctx, nil, c); err != nil {
			t.Fatal(err)
		}
	}
	return s, commit
}

func batchRowCount(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM outbox WHERE op = 'batch'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func queuedOf(t *testing.T, s *Store) (queued, retrying, dead int) {
	t.Helper()
	q, err := s.Queues(context.Background(), []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	return q[0].Queued, q[0].Retrying, q[0].DeadLetters
}

// drain delivers everything due for "c" in batches of limit, acknowledging all, and
// returns the events in delivery order as key@fingerprint.
func drain(t *testing.T, s *Store, limit int, at time.Time) []string {
	t.Helper()
	var got []string
	for {
		evs, err := s.Due(context.Background(), "c", at, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return got
		}
		var outs []Outcome
		for _, ev := range evs {
			got = append(got, ev.Key+"@"+ev.Fingerprint)
			outs = append(outs, Outcome{Seq: ev.Seq, Idem: ev.IdempotencyKey, Result: OutcomeAcked})
		}
		if err := s.Record(context.Background(), "c", outs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchRowsRoundTrip: a chunk's events are queued as batch rows of the batch
// size, counted as events, delivered whole with their own data and keys, and leave the
// outbox when acknowledged.
func TestBatchRowsRoundTrip(t *testing.T) {
	s, commit := batchStore(t)
	commit("p1", 3, "a", "1", "2", "3", "4", "5", "6", "7")
	if n := batchRowCount(t, s); n != 3 {
		t.Fatalf("%d batch rows for 7 events in batches of 3, want 3", n)
	}
	if q, _, _ := queuedOf(t, s); q != 7 {
		t.Fatalf("queued %d, want 7 events", q)
	}
	evs, err := s.Due(context.Background(), "c", time.Now(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Seq != evs[2].Seq || evs[0].Key != "1" || string(evs[1].Data) != `{"id":"2","v":"a"}` ||
		evs[2].IdempotencyKey != "3-a" || evs[0].Attempt != 1 || evs[0].At.Format(time.RFC3339) != "2026-12-01T10:00:00+03:00" {
		t.Fatalf("first batch: %+v", evs)
	}
	if got := drain(t, s, 3, time.Now()); strings.Join(got, " ") != "1@a 2@a 3@a 4@a 5@a 6@a 7@a" {
		t.Fatalf("delivered %v", got)
	}
	if q, _, _ := queuedOf(t, s); q != 0 || batchRowCount(t, s) != 0 {
		t.Fatalf("queued %d after every event was acknowledged", q)
	}
}

// TestBatchRowOutcomes: a batch not acknowledged whole becomes single rows with each
// event's outcome — acknowledged ones leave, a refused one retries later, a rejected
// one is a dead letter, one without an outcome (stopping) stays queued.
func TestBatchRowOutcomes(t *testing.T) {
	s, commit := batchStore(t)
	commit("p1", 4, "a", "1", "2", "3", "4")
	evs, err := s.Due(context.Background(), "c", time.Now(), 4)
	if err != nil || len(evs) != 4 {
		t.Fatalf("due: %d events, %v", len(evs), err)
	}
	later := time.Now().Add(time.Hour)
	outs := []Outcome{
		{Seq: evs[0].Seq, Idem: evs[0].IdempotencyKey, Result: OutcomeAcked},
		{Seq: evs[1].Seq, Idem: evs[1].IdempotencyKey, Result: OutcomeRetry, Next: later, Reason: "503"},
		{Seq: evs[2].Seq, Idem: evs[2].IdempotencyKey, Result: OutcomeDead, Reason: "400 bad patient"},
		// evs[3]: no outcome, as when the service stops mid-batch
	}
	if err := s.Record(context.Background(), "c", outs); err != nil {
		t.Fatal(err)
	}
	q, retrying, dead := queuedOf(t, s)
	if q != 2 || retrying != 1 || dead != 1 || batchRowCount(t, s) != 0 {
		t.Fatalf("queued %d, retrying %d, dead %d, batch rows %d; want 2, 1, 1, 0", q, retrying, dead, batchRowCount(t, s))
	}
	if got := drain(t, s, 10, time.Now()); strings.Join(got, " ") != "4@a" {
		t.Fatalf("due now: %v, want the event without an outcome", got)
	}
	if got := drain(t, s, 10, later.Add(time.Second)); strings.Join(got, " ") != "2@a" {
		t.Fatalf("due later: %v, want the retried event", got)
	}
	dls, err := s.DeadLetters(context.Background(), "c")
	if err != nil || len(dls) != 1 || dls[0].Key != "3" || dls[0].Reason != "400 bad patient" || dls[0].Attempts != 1 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
}

// TestBatchRowsKeepOneEventPerRecord: a newer event for a record queued in another
// poll's batch row replaces the older one (the batch becomes single rows first), so
// the record is delivered once, with its newer content; a chunk is not batched while
// single rows of its entity are queued; a poll's own batch rows stay batched.
func TestBatchRowsKeepOneEventPerRecord(t *testing.T) {
	s, commit := batchStore(t)
	commit("p1", 3, "a", "1", "2", "3", "4", "5", "6")
	commit("p1", 0, "a", "7") // the same poll's last commit: its batch rows stay
	if n := batchRowCount(t, s); n != 2 {
		t.Fatalf("%d batch rows after the poll's last commit, want 2", n)
	}
	commit("p2", 0, "b", "2", "5") // the next poll changed two of them
	if n := batchRowCount(t, s); n != 0 {
		t.Fatalf("%d batch rows left after a newer single event of their entity", n)
	}
	commit("p3", 3, "c", "8", "9", "10") // single rows queued: not batched
	if n := batchRowCount(t, s); n != 0 {
		t.Fatalf("a chunk was batched while single rows of its entity were queued")
	}
	got := drain(t, s, 100, time.Now())
	sort.Strings(got)
	want := []string{"10@c", "1@a", "2@b", "3@a", "4@a", "5@b", "6@a", "7@a", "8@c", "9@c"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v (each record once, newest content)", got, want)
	}
}

// TestReplayNextToBatchRows: a replayed dead letter whose record sits in a batch row
// is queued once.
func TestReplayNextToBatchRows(t *testing.T) {
	s, commit := batchStore(t)
	ctx := context.Background()
	fp1 := fmt.Sprintf("%016x", 1) // the snapshot's fingerprint: the dead letter is current
	commit("p1", 0, fp1, "1")
	evs, _ := s.Due(ctx, "c", time.Now(), 10)
	if err := s.Record(ctx, "c", []Outcome{{Seq: evs[0].Seq, Idem: evs[0].IdempotencyKey, Result: OutcomeDead, Reason: "rejected"}}); err != nil {
		t.Fatal(err)
	}
	commit("p2", 2, fp1, "1", "2") // the same content again, in a batch row
	if batchRowCount(t, s) != 1 {
		t.Fatal("no batch row")
	}
	if r, err := s.Replay(ctx, "c", nil); err != nil || r.Requeued != 1 {
		t.Fatalf("replay: %+v, %v", r, err)
	}
	got := drain(t, s, 10, time.Now())
	sort.Strings(got)
	if fmt.Sprint(got) != "[1@"+fp1+" 2@"+fp1+"]" {
		t.Fatalf("delivered %v, want each record once", got)
	}
}

// TestDropQueueCountsBatchedEvents: dropping a queue reports events, not rows.
func TestDropQueueCountsBatchedEvents(t *testing.T) {
	s, commit := batchStore(t)
	commit("p1", 5, "a", "1", "2", "3", "4", "5", "6")
	if n, err := s.DropQueue(context.Background(), "c"); err != nil || n != 6 {
		t.Fatalf("dropped %d (%v), want 6", n, err)
	}
}

func TestBatchEncoding(t *testing.T) {
	in := []OutEvent{{Key: "1", Op: "upsert", Idem: "i", Fingerprint: "f", Data: []byte(`{"a":1}`)}, {Key: "ключ", Op: "delete", Idem: "j", Fingerprint: "g"}}
	out, err := decodeBatch(encodeBatch(in))
	if err != nil || len(out) != 2 || out[0].key != "1" || string(out[0].data) != `{"a":1}` || out[1].key != "ключ" || out[1].op != "delete" || out[1].data != nil {
		t.Fatalf("%+v %v", out, err)
	}
	b := encodeBatch(in)
	if _, err := decodeBatch(b[:len(b)-3]); err == nil {
		t.Fatal("a cut batch decoded")
	}
}

// TestBatchExplodedInFlight: a batch row is being delivered when a newer single event
// of its entity arrives (the next poll, while a first poll's batches are still going
// out) and turns it into single rows. The delivery's acknowledgements, which name the
// batch row, still take the delivered events out of the queue — they are not sent
// again — while the newer event, and a newer event of a record of the batch, stay.
func TestBatchExplodedInFlight(t *testing.T) {
	s, commit := batchStore(t)
	ctx := context.Background()
	now := time.Now().Add(time.Hour)
	commit("A", 4, "f1", "1", "2", "3", "4")
	inFlight, err := s.Due(ctx, "c", now, 10)
	if err != nil || len(inFlight) != 4 {
		t.Fatalf("due: %d events, %v", len(inFlight), err)
	}
	commit("B", 0, "f2", "9", "3") // new record 9, and record 3 changed again
	if batchRowCount(t, s) != 0 {
		t.Fatal("the single events did not turn the batch row into single rows")
	}
	var outs []Outcome
	for _, ev := range inFlight {
		outs = append(outs, Outcome{Seq: ev.Seq, Idem: ev.IdempotencyKey, Entity: ev.Entity, Key: ev.Key, Result: OutcomeAcked})
	}
	if err := s.Record(ctx, "c", outs); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s, 10, now)
	sort.Strings(got)
	if want := []string{"3@f2", "9@f2"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after the in-flight batch was acknowledged, the queue sent %v, want %v", got, want)
	}
}
