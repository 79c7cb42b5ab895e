// Command bench measures medsync's polls on the demo MIS (SQLite): it seeds
// 100,000 and 1,000,000 appointments, then times three `medsync once` runs each —
// the first poll, an unchanged poll, and a poll after 1% of appointments changed —
// and reports wall time, rows per second and the peak RSS of the medsync process.
//
//	go run ./bench                 # both sizes
//	go run ./bench -sizes 100000   # one size
//
// Every run is a separate medsync process, so its peak RSS is its own.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	sizes := flag.String("sizes", "100000,1000000", "comma-separated appointment counts")
	keep := flag.Bool("keep", false, "keep the work folder")
	flag.Parse()
	if err := run(*sizes, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(sizes string, keep bool) error {
	work, err := os.MkdirTemp("", "medsync-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "medsync")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-o", bin, "./cmd/medsync")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	fmt.Printf("machine: %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
	fmt.Printf("%-10s %-26s %10s %12s %12s %10s\n", "APPTS", "RUN", "WALL", "APPT ROWS", "ROWS/S", "PEAK RSS")
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("size %q: %w", s, err)
		}
		if err := bench(bin, filepath.Join(work, s), n); err != nil {
			return err
		}
	}
	return nil
}

// The window covers the whole seeded schedule (a year back, a year ahead), so every
// appointment is read on every poll: the worst case for the differ.
const configTemplate = `[service]
state_dir = state
timezone = Europe/Moscow
log_level = warn

[mis]
driver = sqlite
dsn = demo.db
profile = demo
days_back = 365
days_ahead = 365
query_timeout = 10m

[connector.file]
path = out/events.jsonl
fsync = false
batch_size = 1000
entities = branch, specialty, doctor, service, patient, shift, appointment
`

func bench(bin, dir string, appts int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(cfg, []byte(configTemplate), 0o644); err != nil {
		return err
	}
	doctors := max(40, appts/2000)
	seed := exec.Command(bin, "-c", cfg, "demo", "init", "-appointments", strconv.Itoa(appts),
		"-doctors", strconv.Itoa(doctors), "-patients", strconv.Itoa(max(5000, appts/10)), "-days", "730", "-bad-rows=false")
	seed.Stdout, seed.Stderr = os.Stdout, os.Stderr
	if err := seed.Run(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	runs := []struct {
		name   string
		before func() error
	}{
		{"first poll", nil},
		{"unchanged poll", nil},
		{"1% appointments changed", func() error { return touch(filepath.Join(dir, "demo.db"), 100) }},
		{"unchanged again", nil},
	}
	for _, r := range runs {
		if r.before != nil {
			if err := r.before(); err != nil {
				return err
			}
		}
		wall, rss, rows, err := once(bin, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Printf("%-10d %-26s %9.2fs %12d %12.0f %8.0fMB\n", appts, r.name, wall.Seconds(), rows, float64(rows)/wall.Seconds(), float64(rss)/(1<<20))
	}
	return nil
}

// touch changes every nth appointment (its comment and MODIFYDATE), as registrars do.
func touch(dbPath string, every int) error {
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(context.Background(),
		`UPDATE SCHEDULE SET COMMENT = 'Перезвонить накануне', MODIFYDATE = MODIFYDATE + 0.001 WHERE SCHEDID % ? = 0`, every)
	return err
}

// once runs `medsync once` and returns its wall time, peak RSS (bytes) and the number
// of appointment rows it read.
func once(bin, cfg string) (time.Duration, int64, int, error) {
	cmd := exec.Command(bin, "-c", cfg, "once")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, 0, err
	}
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	rows := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 2 && f[0] == "appointment" {
			rows, _ = strconv.Atoi(f[2])
		}
	}
	err = cmd.Wait()
	wall := time.Since(t0)
	if err != nil {
		return 0, 0, 0, err
	}
	return wall, maxRSS(cmd.ProcessState), rows, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "unknown CPU"
}
