package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// duringTick is how often DeliverDuring looks for due events without being woken
// (retries coming due, a poll's last commit).
const duringTick = 200 * time.Millisecond

// delivering is DeliverDuring's link to the poll: each chunk a read commits wakes the
// delivery, and the read waits while the targets still hold more than the chunk
// before it, so the outbox never holds much more than two chunks.
type delivering struct {
	mu      sync.Mutex
	cond    *sync.Cond
	gen     int            // chunks committed
	drained map[string]int // per target: every chunk up to this one is delivered
	wake    map[string]chan struct{}
	stopped bool
}

// chunkCommitted is called by the differ after each chunk's commit.
func (e *Engine) chunkCommitted() {
	d := e.during
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	for _, ch := range d.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	for !d.stopped && d.lagging(d.gen-1) {
		d.cond.Wait()
	}
}

// lagging reports whether some target has not delivered chunk gen yet; d.mu held.
func (d *delivering) lagging(gen int) bool {
	for _, g := range d.drained {
		if g < gen {
			return true
		}
	}
	return false
}

// DeliverDuring runs poll and, beside it, delivers to every target what becomes due:
// a first poll of a big MIS commits its events chunk by chunk, and they leave the
// outbox while the read goes on instead of piling up (the state directory stays near
// its final size, and the second core has work). A target that fails leaves the rest
// to DeliverAll and its backoff. A batch in flight when poll returns is finished and
// recorded; what is still queued then is left to DeliverAll. It returns what was
// delivered. Only one DeliverDuring runs at a time (polls never overlap).
func (e *Engine) DeliverDuring(ctx context.Context, poll func()) (map[string]DeliverResult, error) {
	d := &delivering{drained: map[string]int{}, wake: map[string]chan struct{}{}}
	d.cond = sync.NewCond(&d.mu)
	for _, t := range e.o.Targets {
		d.drained[t.Name] = 0
		d.wake[t.Name] = make(chan struct{}, 1)
	}
	e.during = d
	done := make(chan struct{})
	var mu sync.Mutex
	out := map[string]DeliverResult{}
	var errs []error
	var wg sync.WaitGroup
	for _, t := range e.o.Targets {
		wg.Add(1)
		go func(t *Target) {
			defer wg.Done()
			defer d.give(t.Name, 1<<62) // a target that stops never holds the poll back
			tick := time.NewTicker(duringTick)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-d.wake[t.Name]:
				case <-tick.C:
				}
				d.mu.Lock()
				gen := d.gen
				d.mu.Unlock()
				r, err := e.DeliverDue(ctx, t)
				mu.Lock()
				out = AddDelivered(out, map[string]DeliverResult{t.Name: r})
				if err != nil && ctx.Err() == nil {
					errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
				}
				mu.Unlock()
				if err != nil || r.Retrying > 0 {
					return
				}
				d.give(t.Name, gen)
			}
		}(t)
	}
	poll()
	d.mu.Lock()
	d.stopped = true
	d.cond.Broadcast()
	d.mu.Unlock()
	e.during = nil
	close(done)
	wg.Wait()
	return out, errors.Join(errs...)
}

// give records that target name delivered every chunk up to gen.
func (d *delivering) give(name string, gen int) {
	d.mu.Lock()
	if gen > d.drained[name] {
		d.drained[name] = gen
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

// AddDelivered adds b's counts to a's, per connector.
func AddDelivered(a, b map[string]DeliverResult) map[string]DeliverResult {
	if a == nil {
		a = map[string]DeliverResult{}
	}
	for name, r := range b {
		s := a[name]
		s.Delivered += r.Delivered
		s.Retrying += r.Retrying
		s.DeadLettered += r.DeadLettered
		a[name] = s
	}
	return a
}
