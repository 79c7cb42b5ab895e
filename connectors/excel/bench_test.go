package excel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"medsync/mapping/demo"
)

// writeBigList writes a staff list of n distinct employees with the stream writer.
func writeBigList(tb testing.TB, path string, n int) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		tb.Fatal(err)
	}
	if err := sw.SetRow("A1", header); err != nil {
		tb.Fatal(err)
	}
	last := []string{"Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов"}
	first := []string{"Иван", "Пётр", "Алексей", "Дмитрий", "Сергей", "Андрей", "Олег", "Руслан"}
	for i := 0; i < n; i++ {
		birth := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%14000)
		row := []any{
			last[i%len(last)] + "-" + letters(i/64), first[(i/8)%len(first)], "Иванович", birth, "",
			fmt.Sprintf("8922%07d", i), "Слесарь", "Цех №" + fmt.Sprint(i%20), i % 2, []string{"1", "2", "31", "4", ""}[i%5], "4.2.5; 1.37.1",
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			tb.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkImport50k imports a 50,000-row staff list into the demo MIS on SQLite (one
// transaction) and reports the seconds per file and the process's peak RSS. The list is
// written by excelize's stream writer ("excelize") and re-saved by LibreOffice itself
// ("libreoffice": shared strings, styles, the way registrars' files look).
func BenchmarkImport50k(b *testing.B) {
	n := benchRows()
	src := filepath.Join(b.TempDir(), "big.xlsx")
	writeBigList(b, src, n)
	b.Run("excelize", func(b *testing.B) { benchImport(b, src, n) })
	b.Run("libreoffice", func(b *testing.B) {
		out := b.TempDir()
		lo := libreOffice(b, "xlsx", out, src)[0]
		benchImport(b, lo, n)
	})
}

// benchImport imports src b.N times. Besides s/file it reports cpu-s/file (the CPU
// time of the process during the import: on a machine shared with other work the wall
// time says little, the CPU time what the import costs) and the peak RSS of the imports
// alone (Linux: the peak is reset after the input was made).
func benchImport(b *testing.B, src string, n int) {
	runtime.GC()
	resetPeakRSS()
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, w := misFor(b, demo.SQLite)
		c, inbox, logs := newTestConnector(b, nil)
		if err := copyFile(src, filepath.Join(inbox, "big"+filepath.Ext(src))); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, startCPU := time.Now(), cpuTime()
		if err := runWait(c, context.Background(), &testHost{log: c.log, mis: w}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/file")
		cpu += cpuTime() - startCPU
		b.StopTimer()
		if got := mustCount(b, db, `SELECT COUNT(*) FROM PROFLIST`); got != n {
			b.Fatalf("imported %d rows, want %d; log:\n%s", got, n, firstLines(logs.String(), 20))
		}
		b.StartTimer()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/file")
	b.ReportMetric(float64(peakRSSKiB())/1024, "peak-RSS-MiB")
}

// letters spells n with Cyrillic letters instead of digits ("бав" for 102).
func letters(n int) string {
	const abc = "абвгдежзик"
	r := []rune(abc)
	s := []rune(fmt.Sprint(n))
	for i, d := range s {
		s[i] = r[d-'0']
	}
	return string(s)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// benchRows is 50,000, or MEDSYNC_BENCH_ROWS for quick profiling.
func benchRows() int {
	if v, err := strconv.Atoi(os.Getenv("MEDSYNC_BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return 50000
}
