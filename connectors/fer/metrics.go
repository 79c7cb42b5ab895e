package fer

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count requests per operation and outcome and time them. Conn is a
// prometheus.Collector: the status server registers it with its /metrics.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refused  prometheus.Counter

	mu        sync.Mutex // guards the copies the status page reads
	req, errs map[string]int64
}

func newMetrics() *metrics {
	return &metrics{
		req: map[string]int64{}, errs: map[string]int64{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medsync_fer_requests_total", Help: "ФЭР SOAP requests by operation and outcome (ok, error).",
		}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "medsync_fer_request_seconds", Help: "ФЭР SOAP request latency by operation.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medsync_fer_refused_total", Help: "ФЭР requests refused before reading: address not allowed or wrong credentials.",
		}),
	}
}

func (m *metrics) observe(op, outcome string, d time.Duration) {
	if op == "" {
		op = "unknown"
	}
	m.requests.WithLabelValues(op, outcome).Inc()
	m.latency.WithLabelValues(op).Observe(d.Seconds())
	m.mu.Lock()
	m.req[op]++
	if outcome != "ok" {
		m.errs[op]++
	}
	m.mu.Unlock()
}

// counts returns requests and errors per operation so far.
func (m *metrics) counts() (req, errs map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	req, errs = map[string]int64{}, map[string]int64{}
	for k, v := range m.req {
		req[k] = v
	}
	for k, v := range m.errs {
		errs[k] = v
	}
	return req, errs
}

// Describe implements prometheus.Collector.
func (c *Conn) Describe(ch chan<- *prometheus.Desc) {
	c.metrics.requests.Describe(ch)
	c.metrics.latency.Describe(ch)
	c.metrics.refused.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	c.metrics.requests.Collect(ch)
	c.metrics.latency.Collect(ch)
	c.metrics.refused.Collect(ch)
}

// outcome is "ok" for a response that carries data and "error" for one that carries
// an Error (or an error status).
func outcome(resp any) string {
	switch r := resp.(type) {
	case nil:
		return "fault"
	case *getPatientInfoResp:
		return errOutcome(r.Error != nil)
	case *getReferralInfoResp:
		return "error"
	case *getMOInfoResp:
		return errOutcome(r.Error != nil)
	case *getServicePostSpecsResp:
		return errOutcome(r.Error != nil)
	case *getMOResourceResp:
		return errOutcome(r.Error != nil)
	case *getScheduleResp:
		return errOutcome(r.Error != nil)
	case *createResp:
		return errOutcome(r.Status.Code != statusRecorded)
	case *cancelResp:
		return errOutcome(r.Code != statusCanceled)
	}
	return "error"
}

func errOutcome(isErr bool) string {
	if isErr {
		return "error"
	}
	return "ok"
}
