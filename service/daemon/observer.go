package daemon

import "medsync/service/engine"

// multiObserver passes every engine report to several observers.
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
