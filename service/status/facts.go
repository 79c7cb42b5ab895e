package status

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"medsync/mapping"
	"medsync/service/config"
	"medsync/service/engine"
	"medsync/service/logging"
	"medsync/service/store"
)

// Facts are what the status page, /status.json and `medsync status` show.
type Facts struct {
	Service    string                 `json:"service"`
	Config     string                 `json:"config"`
	Now        time.Time              `json:"now"`
	Daemon     bool                   `json:"daemon"` // facts come from the running daemon (else from the state store only)
	Schedule   string                 `json:"schedule"`
	Healthy    bool                   `json:"healthy"`
	Reason     string                 `json:"reason,omitempty"` // why it is not healthy
	LastPoll   *Poll                  `json:"last_poll,omitempty"`
	LastOK     time.Time              `json:"last_success,omitzero"`
	NextPoll   time.Time              `json:"next_poll,omitzero"`
	Deadline   time.Time              `json:"healthy_until,omitzero"` // three intervals after the last success
	Entities   []engine.EntitySummary `json:"entities"`
	Connectors []Connector            `json:"connectors"`
	Held       []Held                 `json:"held_deletions"`
	HeldTotal  int                    `json:"held_total"`
	HeldReview string                 `json:"held_review,omitempty"` // the registrar admins' page that confirms them`
	Drift      []Drift                `json:"version_drift"`         // open version-drift alerts
	History    []Point                `json:"history"`
	// Running is the poll in progress, entity by entity (nil between polls and
	// outside the daemon).
	Running *PollProgress `json:"poll_running,omitempty"`
	// Unmapped are the MIS codes the profile's code tables do not list, seen by the
	// running daemon (a status a clinic added itself, say).
	Unmapped []mapping.UnmappedCode `json:"unmapped_codes,omitempty"`
	// Listeners are the addresses serving connectors answer on, with their health
	// (only from the running daemon).
	Listeners []engine.Listening `json:"listeners,omitempty"`
}

// Poll is one poll in brief.
type Poll struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"`
}

// Connector is one enabled connector's queue.
type Connector struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Queued      int    `json:"queued"`
	Retrying    int    `json:"retrying"`
	DeadLetters int    `json:"dead_letters"`
	Delivered   int    `json:"delivered_since_start"` // acknowledged by the peer since the daemon started
	LastError   string `json:"last_error,omitempty"`
	// PausedUntil is set while the peer's Retry-After holds the whole queue back.
	PausedUntil time.Time `json:"paused_until,omitzero"`
}

// Held counts an entity's deletions held by the mass-disappearance guard.
type Held struct {
	Entity    string `json:"entity"`
	Count     int    `json:"count"`
	Confirmed int    `json:"confirmed"`
	Flips     int    `json:"flips"` // of Count: derived records' changes held (slots turning free)
}

// Point is one poll of the last 24 hours on the chart; Queue is -1 when unknown.
type Point struct {
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"`
	OK      bool      `json:"ok"`
	Queue   int       `json:"queue"`
}

// Source is what facts are gathered from.
type Source struct {
	Cfg   *config.Config
	Store *store.Store
	// LastError returns a connector's last delivery error seen by the running engine;
	// nil outside the daemon (the state store's last recorded error is used).
	LastError func(connector string) string
	Now       func() time.Time
	Daemon    bool
	// Mounts are more handlers served under a path prefix (e.g. the registrar page
	// at /registrar/); the status server knows nothing else of them.
	Mounts map[string]http.Handler
	// Listeners describes the listeners of serving connectors (the running engine's
	// Listeners); nil outside the daemon.
	Listeners func() []engine.Listening
	// CertFile and KeyFile, when both set, make the server speak HTTPS.
	CertFile, KeyFile string
	// Progress returns the running poll (the status server's collector); nil: unknown.
	Progress func() *PollProgress
	// Delivered returns the events a connector delivered since the daemon started.
	Delivered func(connector string) int
	// UnmappedCodes returns the codes the MIS reader met that the profile does not map.
	UnmappedCodes func() []mapping.UnmappedCode
	// Redactor masks every error text the facts carry (the pages need no login);
	// nil: the log's redaction of Cfg's secrets, built on each Gather.
	Redactor *logging.Redactor
}

// Gather reads the facts from the state store (and the running engine, when given).
func Gather(ctx context.Context, src Source) (*Facts, error) {
	cfg := src.Cfg
	now := time.Now()
	if src.Now != nil {
		now = src.Now()
	}
	f := &Facts{
		Service: cfg.Service.Name, Config: cfg.File, Now: now.In(cfg.Location), Daemon: src.Daemon,
		Entities: []engine.EntitySummary{}, Connectors: []Connector{}, Held: []Held{}, History: []Point{},
	}
	if src.UnmappedCodes != nil {
		f.Unmapped = src.UnmappedCodes()
	}
	if cfg.Service.Schedule != "" {
		f.Schedule = "cron " + cfg.Service.Schedule
	} else {
		f.Schedule = fmt.Sprintf("every %d min", cfg.Service.Interval)
	}
	sched := cfg.Schedule()

	since := now.Add(-24 * time.Hour)
	if d := now.Sub(after(sched, now, -3)); d > 24*time.Hour {
		since = now.Add(-d - time.Hour)
	}
	polls, err := src.Store.Polls(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("state store %s: read poll history: %w", src.Store.Path(), err)
	}
	var samples []Sample
	samples, _ = Samples(ctx, src.Store)
	dayAgo := now.Add(-24 * time.Hour)
	queues := map[int64][]int{} // poll start (unix s) → samples in order
	for _, s := range samples {
		k := s.Poll.Unix()
		queues[k] = append(queues[k], s.Queue)
	}
	for _, p := range polls {
		q := -1
		if l := queues[p.Started.Unix()]; len(l) > 0 {
			q, queues[p.Started.Unix()] = l[0], l[1:]
		}
		if p.OK {
			f.LastOK = p.Started.In(cfg.Location)
		}
		if p.Started.Before(dayAgo) {
			continue
		}
		f.History = append(f.History, Point{At: p.Started.In(cfg.Location), Seconds: p.Duration.Seconds(), OK: p.OK, Queue: q})
	}
	if n := len(polls); n > 0 {
		last := polls[n-1]
		lp := &Poll{Started: last.Started.In(cfg.Location), Duration: last.Duration, OK: last.OK}
		var sum engine.PollSummary
		if json.Unmarshal(last.Summary, &sum) == nil {
			f.Entities = append(f.Entities, sum.Entities...)
			if err := sum.Err(); err != nil {
				lp.Error = err.Error()
			}
		}
		f.LastPoll = lp
		if src.Daemon {
			f.NextPoll = sched.Next(last.Started).In(cfg.Location)
		}
	}

	if src.Progress != nil {
		if p := src.Progress(); p != nil && p.Running {
			f.Running = p
		}
	}
	switch {
	case f.LastOK.IsZero() && f.LastPoll == nil && f.Running != nil:
		// The first poll of a large MIS takes minutes: work in progress, not a fault.
	case f.LastOK.IsZero() && f.LastPoll == nil:
		f.Reason = "no poll has finished yet"
	case f.LastOK.IsZero():
		f.Reason = "no poll has succeeded yet; last poll: " + f.LastPoll.Error
	default:
		f.Deadline = after(sched, f.LastOK, 3).In(cfg.Location)
		if now.After(f.Deadline) {
			f.Reason = fmt.Sprintf("no successful poll since %s (more than three poll intervals)", f.LastOK.Format("2006-01-02 15:04:05"))
			if f.LastPoll != nil && f.LastPoll.Error != "" {
				f.Reason += "; last poll: " + f.LastPoll.Error
			}
		}
	}
	f.Healthy = f.Reason == ""
	if cfg.LinkCodes.Enabled && cfg.Registrar.Enabled && len(cfg.Registrar.Admins) > 0 {
		f.HeldReview = "/registrar/deletions"
	}

	var names []string
	types := map[string]string{}
	for _, cc := range cfg.Enabled() {
		names = append(names, cc.Name)
		types[cc.Name] = cc.Type
	}
	qs, err := src.Store.Queues(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("state store %s: read queues: %w", src.Store.Path(), err)
	}
	for _, q := range qs {
		c := Connector{Name: q.Connector, Type: types[q.Connector], Queued: q.Queued, Retrying: q.Retrying, DeadLetters: q.DeadLetters, LastError: q.LastError}
		if src.Delivered != nil {
			c.Delivered = src.Delivered(q.Connector)
		}
		if src.LastError != nil {
			if e := src.LastError(q.Connector); e != "" {
				c.LastError = e
			}
		}
		p, err := src.Store.GetPause(ctx, q.Connector)
		if err != nil {
			return nil, fmt.Errorf("state store %s: read delivery pauses: %w", src.Store.Path(), err)
		}
		if p.Until.After(now) {
			c.PausedUntil = p.Until.In(cfg.Location)
		}
		f.Connectors = append(f.Connectors, c)
	}

	if src.Listeners != nil {
		f.Listeners = src.Listeners()
	}

	held, err := src.Store.HeldDeletions(ctx)
	if err != nil {
		return nil, fmt.Errorf("state store %s: read held deletions: %w", src.Store.Path(), err)
	}
	byEntity := map[string]*Held{}
	for _, h := range held {
		he := byEntity[h.Entity]
		if he == nil {
			he = &Held{Entity: h.Entity}
			byEntity[h.Entity] = he
		}
		he.Count++
		if h.Kind == store.HeldFlip {
			he.Flips++
		}
		if h.Confirmed {
			he.Confirmed++
		}
		f.HeldTotal++
	}
	for _, h := range byEntity {
		f.Held = append(f.Held, *h)
	}
	sort.Slice(f.Held, func(i, j int) bool { return f.Held[i].Entity < f.Held[j].Entity })
	if f.Drift, err = drifts(ctx, src.Store); err != nil {
		return nil, fmt.Errorf("state store %s: %w", src.Store.Path(), err)
	}
	r := src.Redactor
	if r == nil {
		r = logging.NewRedactor(config.Secrets(src.Cfg))
	}
	f.Redact(r)
	return f, nil
}

// Redact passes every error text of f through the log's redaction: the page,
// /status.json and `medsync status` all show these facts.
func (f *Facts) Redact(r *logging.Redactor) {
	f.Reason = r.Redact(f.Reason)
	if f.LastPoll != nil {
		f.LastPoll.Error = r.Redact(f.LastPoll.Error)
	}
	for i := range f.Entities {
		f.Entities[i].Error = r.Redact(f.Entities[i].Error)
	}
	for i := range f.Connectors {
		f.Connectors[i].LastError = r.Redact(f.Connectors[i].LastError)
	}
}

// after applies the schedule n times from t (n < 0: estimates as many intervals back).
func after(s interface{ Next(time.Time) time.Time }, t time.Time, n int) time.Time {
	if n < 0 {
		a := s.Next(t)
		b := s.Next(a)
		return t.Add(time.Duration(n) * b.Sub(a))
	}
	for range n {
		t = s.Next(t)
	}
	return t
}
