// Package engine is medsync's sync engine: it polls the MIS through a mapping.Reader,
// compares what it read with the state store's snapshot, commits snapshot changes and
// the events they imply in one transaction, and feeds each connector from the outbox
// with retries, backoff and a dead-letter list. It knows no connector and no MIS by
// name: only the connectors contract and the canonical model.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/service/logging"
	"medsync/service/store"
)

// Target is one configured connector instance.
type Target struct {
	Name      string // instance name, [connector.NAME]
	Conn      connectors.Connector
	Entities  []string // entities it takes
	BatchSize int
	Keeps     []string // entities whose data it reads back through Host.Records
}

func (t *Target) takes(entity string) bool {
	for _, e := range t.Entities {
		if e == entity {
			return true
		}
	}
	return false
}

// Guard configures the mass-disappearance guard: when more than
// max(MinCount, MaxShare × known keys) records of an entity vanish in one poll, the
// deletions are held and reported until an operator confirms them.
type Guard struct {
	MaxShare float64
	MinCount int
}

// Backoff configures retries of transient delivery failures.
type Backoff struct {
	Initial     time.Duration
	Max         time.Duration
	MaxAttempts int // 0: retry transient failures forever
}

// Hooks are fault-injection points used by crash-safety tests.
type Hooks struct {
	AfterRead   func(entity string) // after an entity is read, before its commit
	AfterCommit func(entity string) // after an entity's commit, before delivery
	// AfterDeliver runs after a connector took a batch, before the outcomes are recorded.
	AfterDeliver func(connector string)
}

// Options configure an Engine.
type Options struct {
	Reader        mapping.Reader
	Store         *store.Store
	Targets       []*Target
	MIS           connectors.MISWriter // nil when the profile declares no write statements
	Zone          *time.Location       // service zone: the window's days are counted in it
	DaysBack      int
	DaysAhead     int
	Guard         Guard
	Backoff       Backoff
	FullReadEvery time.Duration // full read even when versions are declared; 0 = never
	StateDir      string
	Logger        *slog.Logger
	Now           func() time.Time
	Hooks         Hooks
	Observer      Observer
	// AfterPoll, when set, runs after each scheduled poll and the connectors' own work
	// (link codes: MIS requests, deleted cards). It must return when ctx is done.
	AfterPoll func(ctx context.Context)
	// Redactor masks secrets and personal data in delivery errors before they are
	// stored (outbox, dead letters) or shown; nil: codes, e-mails and phones only.
	Redactor *logging.Redactor
	// Chunk is how many changed records a transaction commits while a read goes on;
	// 0: 10,000. Tests use small chunks to run the chunked paths on small data.
	Chunk int
}

// Observer receives what the engine does, for metrics and the status page.
// Every method must be cheap and must not block.
type Observer interface {
	EntityDone(s EntitySummary)
	PollDone(s *PollSummary)
	Delivered(connector, entity, result string, n int)
}

// ProgressObserver is an Observer that also wants to know when a poll and each of
// its entities start, so that a long poll (the first one reads everything) shows as
// work in progress rather than as silence.
type ProgressObserver interface {
	PollStarted(at time.Time, entities []string)
	EntityStarted(entity string)
}

type nopObserver struct{}

func (nopObserver) EntityDone(EntitySummary)              {}
func (nopObserver) PollDone(*PollSummary)                 {}
func (nopObserver) Delivered(string, string, string, int) {}

// Engine runs polls and deliveries.
type Engine struct {
	o      Options
	log    *slog.Logger
	pollMu sync.Mutex // polls never overlap
	// quiet are the entities whose last poll the day summaries decided alone (guarded
	// by pollMu; nil until the first poll reads the last one of the history).
	quiet map[string]bool
	wake  map[string]chan struct{}
	chunk int // records per snapshot+outbox transaction while a read goes on
	// batchSizes are the targets' batch sizes, by name: a chunk's batch rows.
	batchSizes map[string]int
	lastErr    sync.Map       // connector → last delivery error text
	during     *delivering    // set while DeliverDuring runs a poll
	serving    sync.Map       // connector → *serveState (serve.go)
	refresh    refreshCounter // refresh.go: coalesces refreshes after writes to the MIS
}

// New builds an engine.
func New(o Options) (*Engine, error) {
	if o.Reader == nil || o.Store == nil {
		return nil, errors.New("engine: a reader and a state store are required")
	}
	if o.Zone == nil {
		o.Zone = time.Local
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = 5 * time.Second
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = 10 * time.Minute
	}
	if o.Guard.MaxShare <= 0 {
		o.Guard.MaxShare = 0.2
	}
	e := &Engine{o: o, log: o.Logger, wake: map[string]chan struct{}{}, chunk: 10000}
	if o.Chunk > 0 {
		e.chunk = o.Chunk
	}
	for _, t := range o.Targets {
		if t.BatchSize <= 0 {
			t.BatchSize = 100
		}
		e.wake[t.Name] = make(chan struct{}, 1)
	}
	e.batchSizes = map[string]int{}
	for _, t := range o.Targets {
		e.batchSizes[t.Name] = t.BatchSize
	}
	return e, nil
}

// Window returns the poll window for the given instant.
func (e *Engine) Window(now time.Time) mapping.Window {
	n := now.In(e.o.Zone)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, e.o.Zone)
	return mapping.Window{
		From: today.AddDate(0, 0, -e.o.DaysBack),
		To:   today.AddDate(0, 0, e.o.DaysAhead+1),
	}
}

// entities returns the entities some target takes, in poll order.
func (e *Engine) entities() []string {
	var out []string
	has, _ := e.o.Reader.(interface{ Has(string) bool })
	for _, ent := range mapping.Entities {
		wanted := false
		for _, t := range e.o.Targets {
			if t.takes(ent) {
				wanted = true
				break
			}
		}
		if wanted && (has == nil || has.Has(ent)) {
			out = append(out, ent)
		}
	}
	return out
}

func (e *Engine) keepsData(entity string) bool {
	for _, t := range e.o.Targets {
		for _, k := range t.Keeps {
			if k == entity {
				return true
			}
		}
	}
	return false
}

// EntitySummary is what one entity's poll did.
type EntitySummary struct {
	Entity string `json:"entity"`
	Mode   string `json:"mode"` // "summary", "versions" or "full"
	// SummaryOnly: the day summaries matched the snapshot's stored ones, so the poll
	// read nothing else and did not load the snapshot (summary.go).
	SummaryOnly bool `json:"summary_only,omitempty"`
	// PartialSnapshot: the rows changed since the last poll explained every day that
	// moved, so only their snapshot records were loaded (partial.go).
	PartialSnapshot bool          `json:"partial_snapshot,omitempty"`
	Read            int           `json:"read"`
	Skipped         int           `json:"skipped"`
	Upserts         int           `json:"upserts"`
	Deletes         int           `json:"deletes"`
	Held            int           `json:"held"`
	HeldFlips       int           `json:"held_flips,omitempty"` // derived records' guarded changes held (slots turning free)
	LeftWindow      int           `json:"left_window"`
	Duration        time.Duration `json:"duration_ns"`
	Error           string        `json:"error,omitempty"`
	// VersionDrift counts, on a full read of an entity with a version column, the
	// records whose content changed while their version did not; DriftKeys names a few.
	VersionDrift int      `json:"version_drift,omitempty"`
	DriftKeys    []string `json:"version_drift_keys,omitempty"`
}

// PollSummary is what one poll did.
type PollSummary struct {
	Started  time.Time       `json:"started"`
	Duration time.Duration   `json:"duration_ns"`
	Window   mapping.Window  `json:"window"`
	Entities []EntitySummary `json:"entities"`
}

// OK reports whether every entity was read and committed.
func (s *PollSummary) OK() bool {
	for _, e := range s.Entities {
		if e.Error != "" {
			return false
		}
	}
	return true
}

// SkippedOver returns the entities whose skipped rows are more than share of the
// rows they met (read + skipped). share >= 1 returns none.
func (s *PollSummary) SkippedOver(share float64) []EntitySummary {
	var out []EntitySummary
	for _, e := range s.Entities {
		if e.Skipped > 0 && share < 1 && float64(e.Skipped) > share*float64(e.Read+e.Skipped) {
			out = append(out, e)
		}
	}
	return out
}

// Err joins the entity errors.
func (s *PollSummary) Err() error {
	var errs []error
	for _, e := range s.Entities {
		if e.Error != "" {
			errs = append(errs, fmt.Errorf("%s: %s", e.Entity, e.Error))
		}
	}
	return errors.Join(errs...)
}

// Poll reads every entity some connector takes and commits the changes. An entity
// whose read fails is reported and yields no deletions; the others go on.
func (e *Engine) Poll(ctx context.Context) *PollSummary {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()
	started := e.o.Now()
	sum := &PollSummary{Started: started.In(e.o.Zone), Window: e.Window(started)}
	lastFull, _ := e.o.Store.GetMeta(ctx, "last_full_read")
	full := e.o.FullReadEvery > 0 && !recentRFC3339(lastFull, started, e.o.FullReadEvery)
	ents := e.entities()
	progress, _ := e.o.Observer.(ProgressObserver)
	if progress != nil {
		progress.PollStarted(sum.Started, ents)
	}
	sources := sourceOutcomes{}
	// The next entity's snapshot is loaded from the state store while this entity is
	// read from the MIS: two cores, two databases.
	// An entity on the summary path loads its snapshot only when its day summaries
	// moved (unchangedBySummary). (Loading it while the summaries are read, for an
	// entity that changed in its last poll, measured no faster on two cores and cost
	// the next quiet poll a whole load.)
	var next *snapLoad
	load := func(ent string) *snapLoad {
		_, lazy := e.summaryEntity(ent)
		_, table := e.tableSummaryEntity(ent)
		return e.loadSnapshot(ctx, ent, (lazy || table) && !full)
	}
	if len(ents) > 0 {
		next = load(ents[0])
	}
	for i, ent := range ents {
		cur := next
		if i+1 < len(ents) {
			next = load(ents[i+1])
		}
		if ctx.Err() != nil {
			sum.Entities = append(sum.Entities, EntitySummary{Entity: ent, Error: "poll stopped: " + ctx.Err().Error()})
			continue
		}
		if progress != nil {
			progress.EntityStarted(ent)
		}
		es := e.pollEntity(ctx, ent, sum.Window, full, cur, sources)
		sum.Entities = append(sum.Entities, es)
		e.o.Observer.EntityDone(es)
		lvl := slog.LevelInfo
		if es.Error != "" {
			lvl = slog.LevelError
		}
		e.log.Log(ctx, lvl, "poll entity", "entity", ent, "mode", es.Mode, "read", es.Read, "skipped", es.Skipped,
			"upserts", es.Upserts, "deletes", es.Deletes, "held", es.Held, "held_flips", es.HeldFlips, "left_window", es.LeftWindow,
			"ms", es.Duration.Milliseconds(), "error", es.Error)
	}
	sum.Duration = e.o.Now().Sub(started)
	if full && sum.OK() {
		_ = e.o.Store.SetMeta(ctx, "last_full_read", started.UTC().Format(time.RFC3339))
	}
	if b, err := json.Marshal(sum); err == nil {
		if err := e.o.Store.AddPoll(context.WithoutCancel(ctx), store.PollRecord{Started: started, Duration: sum.Duration, OK: sum.OK(), Summary: b}); err != nil {
			e.log.Warn("cannot record poll history", "error", err)
		}
	}
	e.o.Observer.PollDone(sum)
	e.notifyAll()
	return sum
}

// snapLoad is a snapshot being loaded in the background, or, when lazy, loaded at
// the first wait.
type snapLoad struct {
	start func()
	done  chan struct{}
	snap  *store.Snapshot
	err   error
}

func (e *Engine) loadSnapshot(ctx context.Context, entity string, lazy bool) *snapLoad {
	l := &snapLoad{done: make(chan struct{})}
	l.start = sync.OnceFunc(func() {
		go func() {
			defer close(l.done)
			l.snap, l.err = e.o.Store.LoadSnapshot(ctx, entity)
		}()
	})
	if !lazy {
		l.start()
	}
	return l
}

func (l *snapLoad) wait() (*store.Snapshot, error) {
	l.start()
	<-l.done
	return l.snap, l.err
}

func recentRFC3339(s string, now time.Time, d time.Duration) bool {
	t, err := time.Parse(time.RFC3339, s)
	return err == nil && now.Sub(t) < d
}

func (e *Engine) notifyAll() {
	for _, ch := range e.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
