package daemon

import (
	"time"

	"medsync/service/app"
	"medsync/service/engine"
)

// multiObserver passes every engine report to several observers, including the
// optional progress reports to those that take them.
type multiObserver []engine.Observer

func (m multiObserver) EntityDone(s engine.EntitySummary) {
	for _, o := range m {
		o.EntityDone(s)
	}
}

func (m multiObserver) PollDone(s *engine.PollSummary) {
	for _, o := range m {
		o.PollDone(s)
	}
}

func (m multiObserver) Delivered(connector, entity, result string, n int) {
	for _, o := range m {
		o.Delivered(connector, entity, result, n)
	}
}

func (m multiObserver) PollStarted(at time.Time, entities []string) {
	for _, o := range m {
		if p, ok := o.(engine.ProgressObserver); ok {
			p.PollStarted(at, entities)
		}
	}
}

func (m multiObserver) EntityStarted(entity string) {
	for _, o := range m {
		if p, ok := o.(engine.ProgressObserver); ok {
			p.EntityStarted(entity)
		}
	}
}

func (m multiObserver) RowsRead(entity string, n int) {
	for _, o := range m {
		if r, ok := o.(app.RowsObserver); ok {
			r.RowsRead(entity, n)
		}
	}
}
