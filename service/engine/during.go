package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// duringTick is how often DeliverDuring looks for events a running poll committed.
const duringTick = 200 * time.Millisecond

// DeliverDuring runs poll and, beside it, delivers to every target what becomes due —
// a first poll of a big MIS commits its events chunk by chunk, so they leave the
// outbox while the read goes on instead of piling up (the state directory stays near
// its final size, and the second core has work). A batch in flight when poll returns
// is finished and recorded; what is still queued then is left to DeliverAll. It
// returns what was delivered.
func (e *Engine) DeliverDuring(ctx context.Context, poll func()) (map[string]DeliverResult, error) {
	done := make(chan struct{})
	var mu sync.Mutex
	out := map[string]DeliverResult{}
	var errs []error
	var wg sync.WaitGroup
	for _, t := range e.o.Targets {
		wg.Add(1)
		go func(t *Target) {
			defer wg.Done()
			tick := time.NewTicker(duringTick)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				r, err := e.DeliverDue(ctx, t)
				mu.Lock()
				sum := out[t.Name]
				sum.Delivered += r.Delivered
				sum.Retrying += r.Retrying
				sum.DeadLettered += r.DeadLettered
				out[t.Name] = sum
				if err != nil && ctx.Err() == nil {
					errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
				}
				mu.Unlock()
				if err != nil || r.Retrying > 0 {
					return // a failing connector waits for DeliverAll and its backoff
				}
			}
		}(t)
	}
	poll()
	close(done)
	wg.Wait()
	return out, errors.Join(errs...)
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
