package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"medsync/connectors/nats/natstest"
	"medsync/mapping/demo"
	"medsync/service/app/apptest"
)

// TestMedsyncOnce is not a test of its own: BenchmarkFirstPoll runs the test binary
// again with MEDSYNC_NATS_ONCE set to a config path, and this process runs one `once`
// (so that its peak RSS is medsync's alone).
func TestMedsyncOnce(t *testing.T) {
	cfgPath := os.Getenv("MEDSYNC_NATS_ONCE")
	if cfgPath == "" {
		t.Skip("helper process for BenchmarkFirstPoll")
	}
	a := apptest.Open(t, cfgPath)
	defer a.Close()
	r, err := a.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed() {
		t.Fatalf("once failed: %+v", r.Delivered)
	}
}

// BenchmarkFirstPoll measures the first poll of a demo MIS with 100,000 appointments
// (a year back and ahead, so every one is in the window; every entity but slots) in a
// child process: delivered to the stream through the nats connector, and to a file
// without fsync (the floor: the same poll with the cheapest connector). It reports
// events per second end to end and the child's peak RSS.
func BenchmarkFirstPoll(b *testing.B) {
	url := natstest.URL(b)
	msk := moscow()
	sizes := demo.Sizes{Branches: 3, Doctors: 40, Patients: 10000, Appointments: 100000, Days: 730, Today: time.Now().In(msk), Seed: 1}
	_, _, dsn, _ := demo.TestMIS(b, demo.SQLite, sizes)
	const entities = "entities = branch, specialty, doctor, service, patient, shift, appointment\n"
	for _, mode := range []string{"nats", "file"} {
		b.Run(mode, func(b *testing.B) {
			var events, rss int64
			var wall time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				section := fileSection + entities
				if mode == "nats" {
					stream, prefix := natstest.Names(b, url)
					section = natsSection(url, stream, prefix, "c1", 1000) + entities
				}
				cfgPath := writeConfig(b, dir, dsn, section)
				setWindow(b, cfgPath)
				cmd := exec.Command(os.Args[0], "-test.run=^TestMedsyncOnce$", "-test.count=1")
				cmd.Env = append(os.Environ(), "MEDSYNC_NATS_ONCE="+cfgPath)
				b.StartTimer()
				start := time.Now()
				out, err := cmd.CombinedOutput()
				wall += time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatalf("medsync once: %v\n%s", err, out)
				}
				rss = max(rss, maxRSS(cmd.ProcessState))
				events += int64(delivered(b, cfgPath))
			}
			b.ReportMetric(float64(events)/wall.Seconds(), "events/s")
			b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
		})
	}
}

// setWindow widens the window of a config to a year each way.
func setWindow(t testing.TB, cfgPath string) {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = strings.Replace(s, "days_back = 30", "days_back = 365", 1)
	s = strings.Replace(s, "days_ahead = 30", "days_ahead = 365", 1)
	if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// delivered counts the records a finished first poll delivered (one event each).
func delivered(t testing.TB, cfgPath string) int {
	t.Helper()
	a := apptest.Open(t, cfgPath)
	defer a.Close()
	n := 0
	for _, e := range []string{"branch", "specialty", "doctor", "service", "patient", "shift", "appointment"} {
		c, err := a.Store.SnapshotCount(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}
