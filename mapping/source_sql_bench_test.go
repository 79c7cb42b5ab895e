package mapping_test

import (
	"context"
	"testing"
	"time"

	"medsync/mapping"
	"medsync/mapping/demo"
)

// benchSource seeds a SQLite demo MIS with 100,000 appointments.
func benchSource(b *testing.B) (mapping.Reader, mapping.Window, int) {
	b.Helper()
	sz := demo.Sizes{Branches: 3, Doctors: 60, Patients: 20000, Appointments: 100000, Days: 60,
		Today: time.Date(2025, 3, 20, 0, 0, 0, 0, moscow), Seed: 1}
	db, _, _, st := demo.TestMIS(b, demo.SQLite, sz)
	p, err := mapping.LoadProfile("demo")
	if err != nil {
		b.Fatal(err)
	}
	src := mapping.NewSource(db, "sqlite", p, mapping.SourceOptions{Zone: moscow, Warn: func(mapping.Skip) {}})
	from := time.Date(st.From.Year(), st.From.Month(), st.From.Day(), 0, 0, 0, 0, moscow)
	to := time.Date(st.Through.Year(), st.Through.Month(), st.Through.Day()+1, 0, 0, 0, 0, moscow)
	return src, mapping.Window{From: from, To: to}, st.Appointments
}

func BenchmarkScanVersions(b *testing.B) {
	src, w, want := benchSource(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := src.ScanVersions(ctx, "appointment", w, func(k []byte, v uint64) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n < want-10 {
			b.Fatalf("%d versions, seeded %d", n, want)
		}
	}
}

func BenchmarkReadAll(b *testing.B) {
	src, w, want := benchSource(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := src.ReadAll(ctx, "appointment", w, func(mapping.Item) error { n++; return nil }, func(mapping.Skip) {}); err != nil {
			b.Fatal(err)
		}
		if n < want-10 {
			b.Fatalf("%d appointments, seeded %d", n, want)
		}
	}
}
