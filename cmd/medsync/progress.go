package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"medsync/service/app"
	"medsync/service/engine"
	"medsync/service/status"
)

// progress shows a `medsync once` poll as it runs. On a terminal: a progress bar per
// entity while it is read (rows, of the rows the last poll read when that is known,
// with the rate), then the entity's summary line. Elsewhere: "poll progress" log lines
// every 30 s of a long read.
type progress struct {
	w    io.Writer
	bars bool

	mu       sync.Mutex
	expected map[string]int
	bar      *progressbar.ProgressBar
	barOf    string // connector of a delivery bar
	logLine  func(entity string, rows int, rate float64)
	started  map[string]time.Time
	rows     map[string]int
}

var _ engine.ProgressObserver = (*progress)(nil)
var _ app.RowsObserver = (*progress)(nil)

// start learns from the state store how many rows each entity had at the last poll.
func (p *progress) start(ctx context.Context, a *app.App) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expected = lastReads(ctx, a)
	p.started, p.rows = map[string]time.Time{}, map[string]int{}
	if !p.bars {
		p.logLine = status.ProgressLog(a.Log, 30*time.Second)
	}
}

func lastReads(ctx context.Context, a *app.App) map[string]int {
	out := map[string]int{}
	polls, err := a.Store.Polls(ctx, time.Now().Add(-30*24*time.Hour))
	if err != nil || len(polls) == 0 {
		return out
	}
	var sum engine.PollSummary
	if json.Unmarshal(polls[len(polls)-1].Summary, &sum) == nil {
		for _, e := range sum.Entities {
			if e.Error == "" {
				out[e.Entity] = e.Read
			}
		}
	}
	return out
}

func (p *progress) PollStarted(time.Time, []string) {}
func (p *progress) PollDone(*engine.PollSummary)    {}

// Delivered shows the delivery round on a terminal: events delivered per connector.
func (p *progress) Delivered(connector, _, result string, n int) {
	if !p.bars || result != "ok" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil || p.barOf != connector {
		if p.bar != nil {
			_ = p.bar.Finish()
		}
		p.bar = p.newBar(-1, fmt.Sprintf("  delivering to %-10s", connector), "events")
		p.barOf = connector
	}
	_ = p.bar.Add(n)
}

// done clears the last bar before the summary is printed.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

func (p *progress) newBar(max int64, desc, unit string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionUseANSICodes(true),
	)
}

func (p *progress) EntityStarted(entity string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started != nil {
		p.started[entity] = time.Now()
	}
	if !p.bars {
		return
	}
	max := int64(-1) // unknown: a spinner with the count
	if n := p.expected[entity]; n > 0 {
		max = int64(n)
	}
	p.bar = p.newBar(max, fmt.Sprintf("  reading %-12s", entity), "rows")
	p.barOf = ""
}

func (p *progress) RowsRead(entity string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add(n)
	}
	if p.logLine != nil && p.rows != nil {
		p.rows[entity] += n
		rate := 0.0
		if el := time.Since(p.started[entity]).Seconds(); el > 0 {
			rate = float64(p.rows[entity]) / el
		}
		p.logLine(entity, p.rows[entity], rate)
	}
}

func (p *progress) EntityDone(es engine.EntitySummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish() // stops its spinner and clears the line (OptionClearOnFinish)
		p.bar = nil
	}
	if !p.bars {
		return
	}
	mark := "✓"
	if es.Error != "" {
		mark = "✗"
	}
	fmt.Fprintf(p.w, "  %s %-12s read %-8d skipped %-5d upserts %-7d deletes %-6d %6.2fs\n",
		mark, es.Entity, es.Read, es.Skipped, es.Upserts, es.Deletes, es.Duration.Seconds())
}
