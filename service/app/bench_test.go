package app

import (
	"path/filepath"
	"testing"
	"time"

	"medsync/mapping/demo"
)

// BenchmarkPoll measures `once` on a 100,000-appointment demo MIS whose window holds
// every appointment: the first poll (everything new) and an unchanged poll.
// The full-size figures (1,000,000 rows, peak RSS per process) come from `go run ./bench`.
func BenchmarkPoll(b *testing.B) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	sizes := demo.Sizes{Branches: 3, Doctors: 40, Patients: 10000, Appointments: 100000, Days: 730, Today: time.Now().In(msk), Seed: 1}
	_, driver, dsn, _ := demo.TestMIS(b, demo.SQLite, sizes)
	extra := "fsync = false\nbatch_size = 1000\nentities = branch, specialty, doctor, service, patient, shift, appointment\n"
	for _, name := range []string{"first", "unchanged"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				p := &pipe{t: b, cfg: writeConfigWindow(b, dir, driver, dsn, 365, 365, extra), out: filepath.Join(dir, "out", "events.jsonl")}
				if name == "unchanged" {
					p.once()
				}
				b.StartTimer()
				p.once()
			}
		})
	}
}
