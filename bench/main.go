// Command bench measures medsync's polls against the raw floors next to them, on the
// demo MIS in SQLite and in the PostgreSQL server, on the same data, interleaved in one
// process tree. Per database and size it seeds the demo MIS, then runs, each as its own
// child process (so that its peak RSS is its own, from wait4's rusage):
//
//   - medsync's first poll (with the state directory's peak and final size), an
//     unchanged poll, a poll after 1% of the appointments changed, and an unchanged
//     one again (`medsync once`, file connector); the unchanged and the 1% poll also
//     with a config that syncs appointments only (another 1% changed before it), so
//     that the appointment table's own cost stands next to its own key scan;
//   - the raw key+version scan of the same window (SCHEDID, MODIFYDATE through the
//     covering index) and the raw full-row read, in Go with database/sql, nothing kept;
//   - the shell script a DBA would write: `psql \copy … | sort | comm` (sqlite3 for
//     SQLite) against the previous poll's sorted file, twice: dumping (key, version)
//     pairs only (it finds which rows changed, not what they hold: the cheapest
//     script), and dumping the full rows (what changed, with the content to send).
//
// Every figure is printed with its ratio to the raw key scan measured right before it.
// PostgreSQL traffic goes through a counting TCP proxy inside the bench, so "pulled" is
// the bytes the server sent for that run, whatever the statements were.
//
//	go run ./bench                                  # sqlite and postgres, 100k, 300k, 1M
//	go run ./bench -sizes 100000 -dbs sqlite        # one quick run
//	go run ./bench -pg 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
package main

import (
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

	"medsync/mapping/convert"
)

type options struct {
	sizes  []int
	dbs    []string
	pg     string // admin DSN of the PostgreSQL server
	rounds int    // unchanged / 1% rounds after the first poll
	keep   bool
}

func main() {
	if len(os.Args) > 4 && os.Args[1] == "seed" {
		if err := seedMain(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Fprintln(os.Stderr, "bench seed:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "raw" {
		if err := rawMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench raw:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	sizes := flag.String("sizes", "100000,300000,1000000", "comma-separated appointment counts")
	dbs := flag.String("dbs", "sqlite,postgres", "databases: sqlite, postgres")
	flag.StringVar(&o.pg, "pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (a bench database is created and dropped on it)")
	flag.IntVar(&o.rounds, "rounds", 1, "rounds of (unchanged, 1% changed) after the first poll")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder and the PostgreSQL bench databases")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: -sizes: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	o.dbs = strings.Split(*dbs, ",")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	work, err := os.MkdirTemp("", "medsync-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
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
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("machine: %s\n", machine())
	fmt.Printf("command: %s\n", strings.Join(os.Args, " "))
	fmt.Printf("%-8s %8s  %-22s %9s %9s %8s %9s %11s  %s\n", "DB", "APPTS", "RUN", "WALL", "CPU", "×KEYSCAN", "PEAK RSS", "PULLED", "NOTES")
	for _, n := range o.sizes {
		for _, db := range o.dbs {
			b := &bench{o: o, bin: bin, self: self, db: strings.TrimSpace(db), appts: n, dir: filepath.Join(work, fmt.Sprintf("%s-%d", strings.TrimSpace(db), n))}
			if err := b.run(); err != nil {
				return fmt.Errorf("%s %d: %w", db, n, err)
			}
		}
	}
	return nil
}

// bench is one (database, size) series.
type bench struct {
	o         options
	bin, self string
	db        string
	appts     int
	dir       string
	px        *proxy
	pgName    string
	keyscan   time.Duration // the latest raw key scan: the ratios' base
	round     int
	lastPoll  time.Duration // the latest medsync poll, for the shell script's ratio
}

// The window covers the whole seeded schedule (a year back, a year ahead), so every
// appointment is in it on every poll: the worst case for the differ.
const configTemplate = `[service]
state_dir = state
timezone = Europe/Moscow
log_level = warn

[mis]
driver = %s
dsn = %s
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

func (b *bench) run() error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	driver, seedDSN, pollDSN := "sqlite", filepath.Join(b.dir, "demo.db"), filepath.Join(b.dir, "demo.db")
	if b.db == "postgres" {
		var err error
		if seedDSN, err = b.createPG(); err != nil {
			return err
		}
		if !b.o.keep {
			defer b.dropPG()
		}
		if b.px, err = startProxy(pgHostPort(b.o.pg)); err != nil {
			return err
		}
		defer b.px.close()
		driver, pollDSN = "postgres", pgDSN(b.o.pg, b.pgName, b.px.port())
	} else if b.db != "sqlite" {
		return fmt.Errorf("unknown database %q (sqlite, postgres)", b.db)
	}
	// Seed directly (not through the proxy), in a child process: a child's peak RSS on
	// Linux starts at its parent's (vfork+exec), so the bench itself stays small.
	seedDriver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[b.db]
	seed := exec.Command(b.self, "seed", seedDriver, seedDSN, strconv.Itoa(b.appts))
	seed.Stderr = os.Stderr
	out, err := seed.Output()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Printf("%-8s %8d  %s\n", b.db, b.appts, strings.TrimSpace(string(out)))
	if err := b.writeConfig("config.ini", driver, pollDSN); err != nil {
		return err
	}
	appts := strings.Replace(fmt.Sprintf(configTemplate, driver, pollDSN), "entities = branch, specialty, doctor, service, patient, shift, appointment", "entities = appointment", 1)
	if err := os.WriteFile(filepath.Join(b.dir, "appointments.ini"), []byte(appts), 0o644); err != nil {
		return err
	}
	if err := b.rawScan("keys"); err != nil {
		return err
	}
	if err := b.rawScan("rows"); err != nil {
		return err
	}
	if err := b.poll("first poll", true); err != nil {
		return err
	}
	if err := b.shell("shell script (first)", false); err != nil {
		return err
	}
	if err := b.shell("shell, rows (first)", true); err != nil {
		return err
	}
	for r := 1; r <= b.o.rounds; r++ {
		if err := b.rawScan("keys"); err != nil {
			return err
		}
		if err := b.poll("unchanged poll", false); err != nil {
			return err
		}
		// The same state, a config that syncs appointments only: the appointment
		// table's own figures (time, bytes pulled) without the other entities.
		if err := b.pollWith("unchanged, appts only", "appointments.ini"); err != nil {
			return err
		}
		if err := b.shell("shell, unchanged", false); err != nil {
			return err
		}
		if err := b.shell("shell, rows, unchanged", true); err != nil {
			return err
		}
		if err := b.touch(100); err != nil {
			return err
		}
		if err := b.rawScan("keys"); err != nil {
			return err
		}
		if err := b.poll("1% changed poll", false); err != nil {
			return err
		}
		if err := b.shell("shell, 1% changed", false); err != nil {
			return err
		}
		if err := b.shell("shell, rows, 1% changed", true); err != nil {
			return err
		}
		// Another 1%, polled with the appointments-only config: the appointment
		// table's own cost next to its own key scan.
		if err := b.touch(100); err != nil {
			return err
		}
		if err := b.rawScan("keys"); err != nil {
			return err
		}
		if err := b.pollWith("1% changed, appts only", "appointments.ini"); err != nil {
			return err
		}
	}
	if err := b.rawScan("keys"); err != nil {
		return err
	}
	return b.poll("unchanged again", false)
}

func (b *bench) writeConfig(name, driver, dsn string) error {
	return os.WriteFile(filepath.Join(b.dir, name), []byte(fmt.Sprintf(configTemplate, driver, dsn)), 0o644)
}

// result prints one line; the ratio is to the latest raw key scan. CPU is the child's
// user+system time (for PostgreSQL the server's own work is not in it): on a shared
// machine it varies less than the wall time.
func (b *bench) result(run string, wall time.Duration, ps *os.ProcessState, notes string) {
	rss := maxRSS(ps)
	cpu := ps.UserTime() + ps.SystemTime()
	ratio := "-"
	if b.keyscan > 0 {
		ratio = fmt.Sprintf("%.2f×", wall.Seconds()/b.keyscan.Seconds())
	}
	pulled := "-"
	if b.px != nil {
		pulled = fmtBytes(b.px.take())
	}
	fmt.Printf("%-8s %8d  %-22s %8.2fs %8.2fs %8s %8.0fMB %11s  %s\n", b.db, b.appts, run, wall.Seconds(), cpu.Seconds(), ratio, float64(rss)/(1<<20), pulled, notes)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// rawScan runs the raw key+version scan or full-row read as a child process.
func (b *bench) rawScan(what string) error {
	driver, dsn := "sqlite", filepath.Join(b.dir, "demo.db")
	if b.px != nil {
		driver, dsn = "pgx", pgDSN(b.o.pg, b.pgName, b.px.port())
		b.px.take()
	}
	cmd := exec.Command(b.self, "raw", what, "-driver", driver, "-dsn", dsn)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	out, err := cmd.Output()
	wall := time.Since(t0)
	if err != nil {
		return fmt.Errorf("raw %s scan: %w", what, err)
	}
	name := "raw key+version scan"
	if what == "rows" {
		name = "raw full-row read"
	} else {
		b.keyscan = wall
	}
	b.result(name, wall, cmd.ProcessState, strings.TrimSpace(string(out))+" rows")
	return nil
}

// poll runs `medsync once`; on the first poll it also samples the state directory's
// size, to report its peak next to its final size.
func (b *bench) poll(name string, first bool) error { return b.run1(name, "config.ini", first) }

// pollWith is an unchanged poll with another config on the same state directory.
func (b *bench) pollWith(name, config string) error { return b.run1(name, config, false) }

func (b *bench) run1(name, config string, first bool) error {
	if b.px != nil {
		b.px.take()
	}
	cmd := exec.Command(b.bin, "-c", filepath.Join(b.dir, config), "once")
	cmd.Stderr = os.Stderr
	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var p int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if s := dirSize(filepath.Join(b.dir, "state")); s > p {
				p = s
			}
			select {
			case <-stop:
				peak <- p
				return
			case <-t.C:
			}
		}
	}()
	t0 := time.Now()
	out, err := cmd.Output()
	wall := time.Since(t0)
	close(stop)
	p := <-peak
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	notes := ""
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "appointment" {
			notes = strings.Join(f[1:], " ")
		}
	}
	if first {
		final := dirSize(filepath.Join(b.dir, "state"))
		notes += fmt.Sprintf("; state dir peak %.0f MB, final %.0f MB (%.2f×)", float64(p)/(1<<20), float64(final)/(1<<20), float64(p)/float64(max(final, 1)))
	}
	if config == "config.ini" {
		b.lastPoll = wall
	}
	b.result(name, wall, cmd.ProcessState, notes)
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// shell runs the DBA's script: dump (key, version) pairs of the window — or, with
// rows, the full rows — sort, and compare with the previous dump.
func (b *bench) shell(name string, rows bool) error {
	from, to := windowOLE()
	q, file := fmt.Sprintf(rawKeysSQL, from, to), "keys"
	if rows {
		q, file = strings.ReplaceAll(fmt.Sprintf(rawRowsSQL, from, to), "\n", " "), "rows"
	}
	var dump string
	if b.px != nil {
		b.px.take()
		dump = fmt.Sprintf(`psql -X -q -h 127.0.0.1 -p %d -U postgres -d %s -c "\copy (%s) TO STDOUT"`, b.px.port(), b.pgName, q)
	} else {
		dump = fmt.Sprintf(`sqlite3 -separator '	' %s "%s"`, filepath.Join(b.dir, "demo.db"), q)
	}
	script := fmt.Sprintf(`set -eo pipefail
cd %[1]s
touch %[3]s.old
%[2]s | LC_ALL=C sort > %[3]s.new
changed=$(LC_ALL=C comm -3 %[3]s.old %[3]s.new | wc -l)
mv %[3]s.new %[3]s.old
echo $changed`, b.dir, dump, file)
	cmd := exec.Command("bash", "-c", script)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	out, err := cmd.Output()
	wall := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	notes := strings.TrimSpace(string(out)) + " lines differ"
	if b.lastPoll > 0 {
		notes += fmt.Sprintf("; shell ÷ medsync poll before it = %.2f", wall.Seconds()/b.lastPoll.Seconds())
	}
	b.result(name, wall, cmd.ProcessState, notes)
	return nil
}

// touch changes every nth appointment (its comment and MODIFYDATE), as registrars do;
// each round writes a different comment, so that the records really change.
func (b *bench) touch(every int) error {
	b.round++
	driver, dsn := "sqlite", filepath.Join(b.dir, "demo.db")
	if b.db == "postgres" {
		driver, dsn = "pgx", pgDSN(b.o.pg, b.pgName, 0)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// MODIFYDATE becomes now on the MIS's wall clock (Moscow), as the MIS's own update
	// does, and always moves forward.
	now := convert.ToOLEDateTime(time.Now().In(benchZone()))
	_, err = db.ExecContext(context.Background(), fmt.Sprintf(
		`UPDATE SCHEDULE SET COMMENT = 'Перезвонить накануне (%d)', MODIFYDATE = CASE WHEN MODIFYDATE < %[3]v THEN %[3]v ELSE MODIFYDATE + 1.0/86400 END WHERE SCHEDID %% %[2]d = 0`,
		b.round, every, now))
	return err
}

func machine() string {
	model, cores := "unknown CPU", runtime.NumCPU()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.Index(l, ":"); i >= 0 {
					model = strings.TrimSpace(l[i+1:])
					break
				}
			}
		}
	}
	ram := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				ram = fmt.Sprintf(", %.1f GB RAM", float64(kb)/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%s/%s, %s, %d CPUs%s", runtime.GOOS, runtime.GOARCH, model, cores, ram)
}
