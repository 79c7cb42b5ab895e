package engine

import (
	"context"
	"sync"

	"github.com/robfig/cron/v3"
)

// Run polls on the given cron schedule (plus once at start) and delivers
// continuously until ctx is done. A poll still running when the next tick comes
// makes that tick skipped, never overlapped. On return, the current batch has been
// delivered or left safely queued.
func (e *Engine) Run(ctx context.Context, schedule cron.Schedule) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.Dispatch(ctx)
	}()

	tick := func() {
		if ctx.Err() != nil {
			return
		}
		sum := e.Poll(ctx)
		if err := sum.Err(); err != nil {
			e.log.Error("poll finished with errors", "error", err, "ms", sum.Duration.Milliseconds())
		} else {
			e.log.Info("poll finished", "ms", sum.Duration.Milliseconds())
		}
		_ = e.RunConnectors(ctx)
		if e.o.AfterPoll != nil && ctx.Err() == nil {
			e.o.AfterPoll(ctx)
		}
	}
	c := cron.New(
		cron.WithLocation(e.o.Zone),
		cron.WithChain(cron.Recover(cronLogger{e}), cron.SkipIfStillRunning(cronLogger{e})),
	)
	job := cron.FuncJob(tick)
	c.Schedule(schedule, job)
	c.Start()
	// The first poll starts right away, through the same chain (no overlap). The
	// scheduler does not know of it, so the wait group does: Run must not return
	// (and the caller close the state store) under it.
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Entries()[0].WrappedJob.Run()
	}()

	<-ctx.Done()
	stopped := c.Stop() // no new ticks; wait for a running poll to notice ctx
	<-stopped.Done()
	wg.Wait() // the first poll and the dispatcher
}

type cronLogger struct{ e *Engine }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.e.log.Warn("previous poll still running: this tick is skipped")
	}
}
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.e.log.Error("scheduler: "+msg, append(kv, "error", err)...)
}
