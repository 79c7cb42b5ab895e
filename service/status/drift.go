package status

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"medsync/service/store"
)

// Drift is an open version-drift alert: a full read found records of an entity whose
// content changed while their MIS version did not (see store.Drift).
type Drift struct {
	Entity string    `json:"entity"`
	Count  int       `json:"count"`
	Keys   []string  `json:"keys"`
	At     time.Time `json:"found_at"`
	Advice string    `json:"advice"`
}

// drifts reads the open version-drift alerts for the facts.
func drifts(ctx context.Context, st *store.Store) ([]Drift, error) {
	ds, err := st.VersionDrifts(ctx)
	if err != nil {
		return nil, err
	}
	out := []Drift{}
	for _, d := range ds {
		out = append(out, Drift{Entity: d.Entity, Count: d.Count, Keys: d.Keys, At: d.At, Advice: d.Advice()})
	}
	return out, nil
}

// driftCollector reports the open version-drift alerts, read from the state store at
// scrape time, so that they survive a restart as the alert does.
type driftCollector struct{ c *Collector }

var descDrift = prometheus.NewDesc("medsync_version_drift_records",
	"Records the last full read found changed while their MIS version did not (0 or absent: none); the versions path misses such updates.",
	[]string{"entity"}, nil)

func (d driftCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descDrift }

func (d driftCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := d.c.attached()
	if st == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := st.VersionDrifts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descDrift, err)
		return
	}
	for _, x := range ds {
		ch <- prometheus.MustNewConstMetric(descDrift, prometheus.GaugeValue, float64(x.Count), x.Entity)
	}
}
