package status

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// In the first hour the chart spreads the polls there are over the plot, with ticks
// inside that hour, instead of squeezing them into the last 4 % of a 24-hour axis.
func TestChartScalesToTheHistoryItHas(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 40, 0, 0, time.UTC)
	f := &Facts{Now: now}
	for i := 0; i < 8; i++ {
		f.History = append(f.History, Point{At: now.Add(time.Duration(i-8) * 5 * time.Minute), Seconds: float64(i + 1), OK: true, Queue: -1})
	}
	c := buildChart(f)
	xs := strings.Fields(c.Duration)
	first, _ := strconv.ParseFloat(strings.Split(xs[0], ",")[0], 64)
	last, _ := strconv.ParseFloat(strings.Split(xs[len(xs)-1], ",")[0], 64)
	plot := float64(c.W) - 80
	if (last-first)/plot < 0.5 {
		t.Errorf("8 polls over 40 minutes use %.0f%% of the plot's width", 100*(last-first)/plot)
	}
	for _, tk := range c.Ticks {
		if tk.Label < "09:30" || tk.Label > "10:40" {
			t.Errorf("tick %s outside the hour shown", tk.Label)
		}
	}
	if len(c.Ticks) < 3 || c.Short == "" {
		t.Errorf("ticks %v, short %q", c.Ticks, c.Short)
	}
	// A full day keeps the 24-hour axis.
	f.History = append([]Point{{At: now.Add(-23*time.Hour - 50*time.Minute), Seconds: 1, OK: true, Queue: -1}}, f.History...)
	if c := buildChart(f); c.Short != "" || len(c.Ticks) != 5 {
		t.Errorf("a day of history: short %q, %d ticks", c.Short, len(c.Ticks))
	}
}
