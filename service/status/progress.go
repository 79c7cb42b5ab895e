package status

import (
	"log/slog"
	"sync"
	"time"

	"medsync/service/engine"
)

// PollProgress is the poll running now, entity by entity: a first poll of a large MIS
// takes minutes, and the page shows it as work in progress, with rows read, the rate
// and an estimate where the previous poll tells how many rows to expect.
type PollProgress struct {
	Running  bool             `json:"running"`
	First    bool             `json:"first"` // no poll finished before it since the service started
	Started  time.Time        `json:"started,omitzero"`
	Entities []EntityProgress `json:"entities"`
}

// EntityProgress is one entity of the running poll.
type EntityProgress struct {
	Entity   string  `json:"entity"`
	State    string  `json:"state"` // "waiting", "reading", "done"
	Rows     int     `json:"rows"`
	Expected int     `json:"expected,omitempty"` // rows the previous poll read; 0: unknown
	Rate     float64 `json:"rows_per_second,omitempty"`
	// ETA is the estimated time left for the entity, when Expected is known.
	ETA     time.Duration `json:"eta_ns,omitempty"`
	started time.Time
}

// progress is the Collector's record of the running poll.
type progress struct {
	mu       sync.Mutex
	now      func() time.Time
	cur      PollProgress
	finished bool           // a poll finished since start
	lastRead map[string]int // rows read per entity by the previous poll
	onRows   func(entity string, rows int, rate float64)
}

// PollStarted implements engine.ProgressObserver.
func (c *Collector) PollStarted(at time.Time, entities []string) {
	p := &c.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = PollProgress{Running: true, First: !p.finished, Started: at}
	for _, e := range entities {
		p.cur.Entities = append(p.cur.Entities, EntityProgress{Entity: e, State: "waiting", Expected: p.lastRead[e]})
	}
}

// EntityStarted implements engine.ProgressObserver.
func (c *Collector) EntityStarted(entity string) {
	p := &c.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entity(entity); e != nil {
		e.State, e.started = "reading", p.clock()
	}
}

// RowsRead counts n more rows read of entity (mapping.SourceOptions.OnRows).
func (c *Collector) RowsRead(entity string, n int) {
	p := &c.prog
	p.mu.Lock()
	e := p.entity(entity)
	if e == nil {
		p.mu.Unlock()
		return
	}
	e.Rows += n
	if el := p.clock().Sub(e.started).Seconds(); el > 0 && !e.started.IsZero() {
		e.Rate = float64(e.Rows) / el
	}
	rows, rate, cb := e.Rows, e.Rate, p.onRows
	p.mu.Unlock()
	if cb != nil {
		cb(entity, rows, rate)
	}
}

// OnProgress sets a function told of every progress report (the terminal's progress
// bar, the log's periodic lines).
func (c *Collector) OnProgress(fn func(entity string, rows int, rate float64)) {
	c.prog.mu.Lock()
	defer c.prog.mu.Unlock()
	c.prog.onRows = fn
}

// Progress returns the running poll (Running false between polls).
func (c *Collector) Progress() *PollProgress {
	p := &c.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.cur
	out.Entities = append([]EntityProgress(nil), p.cur.Entities...)
	for i := range out.Entities {
		e := &out.Entities[i]
		if e.State == "reading" && e.Expected > e.Rows && e.Rate > 0 {
			e.ETA = time.Duration(float64(e.Expected-e.Rows) / e.Rate * float64(time.Second)).Round(time.Second)
		}
	}
	return &out
}

func (p *progress) entityDone(s engine.EntitySummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entity(s.Entity); e != nil {
		e.State, e.Rows = "done", s.Read
	}
}

func (p *progress) pollDone(s *engine.PollSummary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	p.cur.Running = false
	if p.lastRead == nil {
		p.lastRead = map[string]int{}
	}
	for _, e := range s.Entities {
		if e.Error == "" {
			p.lastRead[e.Entity] = e.Read
		}
	}
}

func (p *progress) entity(name string) *EntityProgress {
	for i := range p.cur.Entities {
		if p.cur.Entities[i].Entity == name {
			return &p.cur.Entities[i]
		}
	}
	return nil
}

func (p *progress) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// ProgressLog returns an OnProgress function that writes one "poll progress" line per
// entity at most every interval: the log's view of a long poll where no terminal shows
// a progress bar (the service, a redirected `medsync once`).
func ProgressLog(log *slog.Logger, every time.Duration) func(entity string, rows int, rate float64) {
	var mu sync.Mutex
	last := map[string]time.Time{}
	return func(entity string, rows int, rate float64) {
		mu.Lock()
		now := time.Now()
		if t, ok := last[entity]; ok && now.Sub(t) < every {
			mu.Unlock()
			return
		}
		if _, ok := last[entity]; !ok {
			// The first report of an entity starts its clock: short reads log nothing.
			last[entity] = now
			mu.Unlock()
			return
		}
		last[entity] = now
		mu.Unlock()
		log.Info("poll progress", "entity", entity, "rows", rows, "rows_per_second", int(rate))
	}
}
