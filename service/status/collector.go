package status

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"medsync/service/engine"
	"medsync/service/store"
)

// historyKey is the state store meta key holding queue depth samples of the last 24
// hours, so that the chart survives a restart and `medsync status` can read it.
const historyKey = "status.queue_history"

// Sample is the outbox depth (all connectors) right after a poll; Poll is the poll's
// start to the second, as the poll history keeps it.
type Sample struct {
	Poll  time.Time `json:"poll"`
	Queue int       `json:"queue"`
}

// Collector implements engine.Observer: it counts what the engine reports into its
// own Prometheus registry and samples the outbox depth after each poll.
type Collector struct {
	reg         *prometheus.Registry
	pollDur     prometheus.Histogram
	polls       *prometheus.CounterVec
	rowsRead    *prometheus.CounterVec
	rowsSkipped *prometheus.CounterVec
	events      *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
	lastSuccess prometheus.Gauge

	prog progress

	mu         sync.Mutex
	delivered  map[string]int
	codeStates func(context.Context) (map[string]int, error)
	st         *store.Store
	connectors []string
	sampling   sync.WaitGroup
}

// NewCollector builds a collector with a registry of its own.
func NewCollector() *Collector {
	c := &Collector{
		reg: prometheus.NewRegistry(),
		pollDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "medsync_poll_duration_seconds", Help: "Duration of a poll of the MIS (all entities).",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsync_polls_total", Help: "Polls finished, by result (ok, error).",
		}, []string{"result"}),
		rowsRead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsync_rows_read_total", Help: "MIS rows read, per entity.",
		}, []string{"entity"}),
		rowsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsync_rows_skipped_total", Help: "MIS rows skipped because they could not be converted, per entity.",
		}, []string{"entity"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsync_events_total", Help: "Change events created, per entity and operation (upsert, delete).",
		}, []string{"entity", "op"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsync_deliveries_total", Help: "Event deliveries, per connector and result (ok, retry, dead_letter).",
		}, []string{"connector", "result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medsync_last_success_timestamp_seconds", Help: "Unix time of the start of the last poll that succeeded.",
		}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "medsync_build_info", Help: "Always 1; the labels say which medsync build runs.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(Version, runtime.Version()).Set(1)
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "medsync_poll_running", Help: "1 while a poll of the MIS is running, else 0.",
	}, func() float64 {
		if c.Progress().Running {
			return 1
		}
		return 0
	})
	c.reg.MustRegister(c.pollDur, c.polls, c.rowsRead, c.rowsSkipped, c.events, c.deliveries, c.lastSuccess, build, running, queueCollector{c}, driftCollector{c})
	return c
}

// Version is the medsync version /metrics reports in medsync_build_info (set by the
// command line at start).
var Version = "dev"

// linkCodeStates are the states of service/linkcodes' codes.
var linkCodeStates = []string{"active", "used", "revoked", "expired", "canceled"}

// AttachLinkCodes adds the link codes by state (medsync_link_codes{state}) to /metrics.
func (c *Collector) AttachLinkCodes(states func(context.Context) (map[string]int, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codeStates = states
}

// Registry is the collector's Prometheus registry.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

// Attach gives the collector the state store, to read queue depths from, and the
// enabled connectors' names. Until it is called the queue series are empty.
func (c *Collector) Attach(st *store.Store, connectors []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st, c.connectors = st, connectors
}

func (c *Collector) attached() (*store.Store, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st, c.connectors
}

// EntityDone implements engine.Observer.
func (c *Collector) EntityDone(s engine.EntitySummary) {
	c.prog.entityDone(s)
	c.rowsRead.WithLabelValues(s.Entity).Add(float64(s.Read))
	c.rowsSkipped.WithLabelValues(s.Entity).Add(float64(s.Skipped))
	c.events.WithLabelValues(s.Entity, "upsert").Add(float64(s.Upserts))
	c.events.WithLabelValues(s.Entity, "delete").Add(float64(s.Deletes))
}

// PollDone implements engine.Observer. The queue depth is sampled in the background.
func (c *Collector) PollDone(s *engine.PollSummary) {
	c.prog.pollDone(s)
	c.pollDur.Observe(s.Duration.Seconds())
	if s.OK() {
		c.polls.WithLabelValues("ok").Inc()
		c.lastSuccess.Set(float64(s.Started.UnixMilli()) / 1000)
	} else {
		c.polls.WithLabelValues("error").Inc()
	}
	st, names := c.attached()
	if st == nil {
		return
	}
	at := s.Started
	c.sampling.Add(1)
	go func() {
		defer c.sampling.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = RecordSample(ctx, st, names, at)
	}()
}

// Wait waits for background queue samples to be written (tests, shutdown).
func (c *Collector) Wait() { c.sampling.Wait() }

// Delivered implements engine.Observer.
func (c *Collector) Delivered(connector, _ string, result string, n int) {
	c.deliveries.WithLabelValues(connector, result).Add(float64(n))
	if result == "ok" {
		c.mu.Lock()
		if c.delivered == nil {
			c.delivered = map[string]int{}
		}
		c.delivered[connector] += n
		c.mu.Unlock()
	}
}

// DeliveredOK is how many events connector delivered since the collector started.
func (c *Collector) DeliveredOK(connector string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delivered[connector]
}

var sampleMu sync.Mutex

// RecordSample appends the current total outbox depth, after the poll started at
// poll, to the 24-hour history kept in the state store.
func RecordSample(ctx context.Context, st *store.Store, connectors []string, poll time.Time) error {
	qs, err := st.Queues(ctx, connectors)
	if err != nil {
		return err
	}
	total := 0
	for _, q := range qs {
		total += q.Queued
	}
	sampleMu.Lock()
	defer sampleMu.Unlock()
	hist, _ := Samples(ctx, st)
	cut := poll.Add(-25 * time.Hour)
	keep := hist[:0]
	for _, h := range hist {
		if h.Poll.After(cut) {
			keep = append(keep, h)
		}
	}
	keep = append(keep, Sample{Poll: poll.UTC().Truncate(time.Second), Queue: total})
	b, err := json.Marshal(keep)
	if err != nil {
		return err
	}
	return st.SetMeta(ctx, historyKey, string(b))
}

// Samples returns the queue depth samples kept in the state store.
func Samples(ctx context.Context, st *store.Store) ([]Sample, error) {
	v, err := st.GetMeta(ctx, historyKey)
	if err != nil || v == "" {
		return nil, err
	}
	var out []Sample
	err = json.Unmarshal([]byte(v), &out)
	return out, err
}

// queueCollector reports outbox depth and dead letters per connector, read from the
// state store at scrape time.
type queueCollector struct{ c *Collector }

var (
	descQueued = prometheus.NewDesc("medsync_outbox_depth", "Events queued for a connector (not yet delivered).", []string{"connector"}, nil)
	descRetry  = prometheus.NewDesc("medsync_outbox_retrying", "Queued events that failed at least once.", []string{"connector"}, nil)
	descDead   = prometheus.NewDesc("medsync_dead_letters", "Events a connector refused for good (medsync dlq list).", []string{"connector"}, nil)
	descHeld   = prometheus.NewDesc("medsync_held_deletions", "Deletions (and the changes they imply) held by the mass-disappearance guard until an operator confirms them, per entity.", []string{"entity"}, nil)
	descCodes  = prometheus.NewDesc("medsync_link_codes", "Patient link codes by state (active, used, revoked, expired, canceled).", []string{"state"}, nil)
)

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueued
	ch <- descRetry
	ch <- descDead
	ch <- descHeld
	ch <- descCodes
}

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	st, names := q.c.attached()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qs, err := st.Queues(ctx, names)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descQueued, err)
		return
	}
	for _, s := range qs {
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.Queued), s.Connector)
		ch <- prometheus.MustNewConstMetric(descRetry, prometheus.GaugeValue, float64(s.Retrying), s.Connector)
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(s.DeadLetters), s.Connector)
	}
	held, err := st.HeldDeletions(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descHeld, err)
	} else {
		per := map[string]int{}
		for _, h := range held {
			per[h.Entity]++
		}
		for e, n := range per {
			ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(n), e)
		}
	}
	q.c.mu.Lock()
	states := q.c.codeStates
	q.c.mu.Unlock()
	if states != nil {
		m, err := states(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descCodes, err)
			return
		}
		for _, s := range linkCodeStates {
			m[s] += 0 // every state is a series, zero or not
		}
		for s, n := range m {
			ch <- prometheus.MustNewConstMetric(descCodes, prometheus.GaugeValue, float64(n), s)
		}
	}
}
