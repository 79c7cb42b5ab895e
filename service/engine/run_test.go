package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"medsync/connectors"
	"medsync/mapping"
)

// slowReader makes every read take a while and counts reads running at once.
type slowReader struct {
	*memReader
	delay        time.Duration
	running, max atomic.Int32
	reads        atomic.Int32
}

func (s *slowReader) ReadAll(ctx context.Context, entity string, w mapping.Window, fn func(mapping.Item) error, skip func(mapping.Skip)) error {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for {
		m := s.max.Load()
		if n <= m || s.max.CompareAndSwap(m, n) {
			break
		}
	}
	s.reads.Add(1)
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memReader.ReadAll(ctx, entity, w, fn, skip)
}

// TestRunNeverOverlapsAndStopsCleanly ticks every second while each poll takes 2.5 s:
// ticks that find a poll running are skipped, and cancelling stops Run promptly with
// what was read delivered.
func TestRunNeverOverlapsAndStopsCleanly(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.put(doctor("1", "Иванова"), "")
	slow := &slowReader{memReader: f.mem, delay: 2500 * time.Millisecond}
	f.eng.o.Reader = slow
	f.eng.o.Now = time.Now
	sched, err := cron.ParseStandard("@every 1s")
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := startRun(f.eng, sched)
	deadline := time.Now().Add(20 * time.Second)
	for len(f.rec.events()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	cancel()
	waitRun(t, done)
	if m := slow.max.Load(); m != 1 {
		t.Fatalf("%d polls ran at once", m)
	}
	if r := slow.reads.Load(); r < 2 {
		t.Fatalf("only %d polls ran", r)
	}
	evs := f.rec.events()
	if len(evs) != 1 || evs[0].Op != connectors.OpUpsert {
		t.Fatalf("delivered %v", evs)
	}
}

// stubbornReader's first read takes a while and does not notice cancellation (a MIS
// query the driver cannot interrupt).
type stubbornReader struct {
	*memReader
	started  chan struct{}
	once     atomic.Bool
	finished atomic.Bool
}

func (s *stubbornReader) ReadAll(ctx context.Context, entity string, w mapping.Window, fn func(mapping.Item) error, skip func(mapping.Skip)) error {
	if s.once.CompareAndSwap(false, true) {
		close(s.started)
		time.Sleep(300 * time.Millisecond)
		s.finished.Store(true)
	}
	return s.memReader.ReadAll(ctx, entity, w, fn, skip)
}

// TestRunWaitsForTheFirstPoll: stopped while the first poll (started at once, outside
// the scheduler) is still reading, Run returns only after that poll has finished — the
// caller closes the state store next.
func TestRunWaitsForTheFirstPoll(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.put(doctor("1", "Иванова"), "")
	r := &stubbornReader{memReader: f.mem, started: make(chan struct{})}
	f.eng.o.Reader = r
	f.eng.o.Now = time.Now
	sched, err := cron.ParseStandard("@every 1h")
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := startRun(f.eng, sched)
	<-r.started
	cancel()
	waitRun(t, done)
	if !r.finished.Load() {
		t.Fatal("Run returned while the first poll was still reading")
	}
}

// startRun runs eng.Run on sched until cancel; done closes when Run has returned.
func startRun(eng *Engine, sched cron.Schedule) (cancel context.CancelFunc, done chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() {
		eng.Run(ctx, sched)
		close(done)
	}()
	return cancel, done
}

func waitRun(t *testing.T, done chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
