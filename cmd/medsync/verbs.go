package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"medsync/mapping"
	"medsync/mapping/demo"
	"medsync/service/app"
	"medsync/service/config"
	"medsync/service/daemon"
	"medsync/service/logging"
	"medsync/service/store"
)

func init() {
	verbs["run"] = func(ctx context.Context, c *cli, _ []string) error { return c.run(ctx) }
	verbs["once"] = func(ctx context.Context, c *cli, _ []string) error { return c.once(ctx) }
	verbs["demo"] = func(ctx context.Context, c *cli, args []string) error { return c.demo(ctx, args) }
	verbs["dlq"] = func(ctx context.Context, c *cli, args []string) error { return c.dlq(ctx, args) }
	verbs["deletions"] = func(ctx context.Context, c *cli, args []string) error { return c.deletions(ctx, args) }
	verbs["queue"] = func(ctx context.Context, c *cli, args []string) error { return c.queue(ctx, args) }
	verbs["config"] = func(_ context.Context, c *cli, args []string) error { return c.config(args) }
}

type cli struct {
	cfgPath        string
	stdout, stderr io.Writer
}

func (c *cli) load() (*config.Config, error) {
	return config.Load(c.cfgPath)
}

// logger is the rotating, redacting log of [service] log_dir, copied to stderr. When
// the log folder cannot be created the verb still runs, logging to stderr only.
func (c *cli) logger(cfg *config.Config) *slog.Logger {
	l, err := logging.New(cfg, logging.Options{Stderr: c.stderr})
	if err != nil {
		fmt.Fprintln(c.stderr, "medsync: warning:", err)
		l, _ = logging.New(cfg, logging.Options{Stderr: c.stderr, NoFile: true})
	}
	return l.Logger
}

func (c *cli) open(ctx context.Context, opt app.Options) (*app.App, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, err
	}
	return app.Open(ctx, cfg, c.logger(cfg), opt)
}

// run goes through the same daemon.Program as the installed service.
func (c *cli) run(ctx context.Context) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	return daemon.Run(ctx, &daemon.Program{Cfg: cfg, Stderr: c.stderr})
}

func (c *cli) isTerminal() bool {
	f, ok := c.stdout.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// progress prints one line per entity as the poll goes, when stdout is a terminal.
func (c *cli) once(ctx context.Context) error {
	opt := app.Options{}
	prog := &progress{w: c.stdout, bars: c.isTerminal()}
	if prog.bars {
		fmt.Fprintln(c.stdout, "polling the MIS…")
	}
	opt.Observer = prog
	a, err := c.open(ctx, opt)
	if err != nil {
		return err
	}
	defer a.Close()
	prog.start(ctx, a)
	res, err := a.Once(ctx)
	prog.done()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ENTITY\tMODE\tREAD\tSKIPPED\tUPSERTS\tDELETES\tHELD\tHELD CHANGES\tLEFT WINDOW\tTIME\tERROR\n")
	for _, e := range res.Poll.Entities {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.2fs\t%s\n", e.Entity, e.Mode, e.Read, e.Skipped, e.Upserts, e.Deletes, e.Held, e.HeldFlips, e.LeftWindow, e.Duration.Seconds(), e.Error)
	}
	tw.Flush()
	for _, t := range a.Targets {
		d := res.Delivered[t.Name]
		fmt.Fprintf(c.stdout, "connector %s: delivered %d, retrying %d, dead letters %d\n", t.Name, d.Delivered, d.Retrying, d.DeadLettered)
		if !d.PausedUntil.IsZero() {
			fmt.Fprintf(c.stdout, "connector %s: paused until %s (peer asked to retry later)\n", t.Name, d.PausedUntil.In(a.Cfg.Location).Format("2006-01-02 15:04:05"))
		}
	}
	return onceVerdict(res, a.Cfg.MIS.MaxSkippedShare, a.Cfg.Location)
}

// Exit codes of `medsync once` (README "medsync once"): when several apply, the
// lowest wins.
const (
	exitFailed  = 1 // a read, a commit, a delivery or a connector run failed
	exitHeld    = 3 // the guard held deletions or slot changes: an operator must look
	exitSkipped = 4 // an entity's skipped share is above [mis] max_skipped_share
)

// onceVerdict turns one poll's result into the exit of `medsync once`.
func onceVerdict(res *app.OnceResult, maxSkipped float64, loc *time.Location) error {
	code := 0
	var why []string
	worse := func(c int, msg string) {
		if code == 0 || c < code {
			code = c
		}
		why = append(why, msg)
	}
	if res.Failed() {
		if err := res.Poll.Err(); err != nil {
			worse(exitFailed, err.Error())
		}
		if res.RunErr != nil {
			worse(exitFailed, res.RunErr.Error())
		}
		for name, d := range res.Delivered {
			if d.Retrying > 0 || d.DeadLettered > 0 {
				worse(exitFailed, fmt.Sprintf("connector %s: %d events to retry, %d dead letters (medsync dlq list)", name, d.Retrying, d.DeadLettered))
			} else if !d.PausedUntil.IsZero() {
				worse(exitFailed, fmt.Sprintf("connector %s: paused until %s (peer asked to retry later): its queue waits", name, d.PausedUntil.In(loc).Format("2006-01-02 15:04:05")))
			}
		}
	}
	for _, e := range res.Poll.Entities {
		if e.Held > 0 || e.HeldFlips > 0 {
			worse(exitHeld, fmt.Sprintf("%s: the guard held %d deletions and %d changes (busy slots turning free); review them with medsync deletions list, release them with medsync deletions confirm", e.Entity, e.Held, e.HeldFlips))
		}
	}
	for _, e := range res.Poll.SkippedOver(maxSkipped) {
		worse(exitSkipped, fmt.Sprintf("%s: %d of %d rows skipped (more than max_skipped_share = %g of [mis]); the log's \"row skipped\" lines name each row and problem, medsync check --all counts them", e.Entity, e.Skipped, e.Read+e.Skipped, maxSkipped))
	}
	if code == 0 {
		return nil
	}
	return &exitError{code: code, err: fmt.Errorf("once: not everything succeeded:\n  %s", strings.Join(why, "\n  "))}
}

func (c *cli) demo(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "init" {
		return &exitError{code: 2, err: fmt.Errorf("usage: medsync demo init [-appointments N] [-patients N] [-doctors N] [-branches N] [-days N] [-seed N] [-bad-rows=false] [-replace]")}
	}
	sz := demo.DefaultSizes()
	fs := flag.NewFlagSet("demo init", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.IntVar(&sz.Appointments, "appointments", sz.Appointments, "appointments to create")
	fs.IntVar(&sz.Patients, "patients", sz.Patients, "patient cards to create")
	fs.IntVar(&sz.Doctors, "doctors", sz.Doctors, "doctors")
	fs.IntVar(&sz.Branches, "branches", sz.Branches, "branches")
	fs.IntVar(&sz.Days, "days", sz.Days, "days of shifts around today (half back, half ahead)")
	fs.Int64Var(&sz.Seed, "seed", sz.Seed, "random seed (same seed, same data)")
	fs.BoolVar(&sz.BadRows, "bad-rows", sz.BadRows, "add a few deliberately broken rows")
	fs.BoolVar(&sz.Replace, "replace", false, "drop and recreate demo tables that already exist")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	st, err := demo.Init(ctx, cfg.MIS.Driver, cfg.MIS.DSN, sz)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "demo MIS ready (%s): %d branches, %d doctors, %d services, %d patients, %d shifts, %d appointments; shifts %s … %s; %d deliberately bad rows; %.1fs\n",
		cfg.MIS.Driver, st.Branches, st.Doctors, st.Services, st.Patients, st.Shifts, st.Appointments,
		st.From.Format("2006-01-02"), st.Through.Format("2006-01-02"), len(st.Bad), st.Elapsed.Seconds())
	return nil
}

// openStore opens the state store: for writing (taking the state directory's lock,
// so refused while the service runs), or read-only (list verbs, beside the service).
func (c *cli) openStore(ctx context.Context, write bool) (*store.Store, *config.Config, error) {
	cfg, err := c.load()
	if err != nil {
		return nil, nil, err
	}
	if !write {
		st, err := store.OpenReadOnly(ctx, cfg.Service.StateDir)
		return st, cfg, err
	}
	st, err := store.OpenWith(ctx, cfg.Service.StateDir, store.Options{Backup: app.BackupOptions(cfg)})
	return st, cfg, err
}

func (c *cli) dlq(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		return &exitError{code: 2, err: fmt.Errorf("usage: medsync dlq list [connector] | medsync dlq replay [connector] [id ...]")}
	}
	st, cfg, err := c.openStore(ctx, args[0] == "replay")
	if err != nil {
		return err
	}
	defer st.Close()
	connector := ""
	if len(args) > 1 {
		connector = args[1]
	}
	switch args[0] {
	case "list":
		rows, err := st.DeadLetters(ctx, connector)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			fmt.Fprintln(c.stdout, "no dead letters")
			return nil
		}
		// Reasons pass through the log's redaction: those stored by an older medsync
		// were not masked yet.
		red := logging.NewRedactor(config.Secrets(cfg))
		tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCONNECTOR\tENTITY\tKEY\tOP\tATTEMPTS\tFAILED AT\tREASON")
		for _, d := range rows {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Connector, d.Entity, d.Key, d.Op, d.Attempts, localTime(d.FailedAt, cfg.Location), red.Redact(d.Reason))
		}
		return tw.Flush()
	default:
		var ids []int64
		for _, s := range args[min(2, len(args)):] {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("dlq replay: %q is not a dead-letter id (see medsync dlq list)", s)}
			}
			ids = append(ids, id)
		}
		r, err := st.Replay(ctx, connector, ids)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%d dead letters queued again; they are sent on the next delivery round\n", r.Requeued)
		if r.Superseded > 0 {
			fmt.Fprintf(c.stdout, "%d dropped: their record changed since, and its newer state was or will be sent\n", r.Superseded)
		}
		return nil
	}
}

func (c *cli) deletions(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "confirm") {
		return &exitError{code: 2, err: fmt.Errorf("usage: medsync deletions list [entity ... | all] | medsync deletions confirm [entity]")}
	}
	st, cfg, err := c.openStore(ctx, args[0] == "confirm")
	if err != nil {
		return err
	}
	defer st.Close()
	if args[0] == "confirm" {
		entity := ""
		if len(args) > 1 {
			entity = args[1]
		}
		// Confirming an entity's deletions also releases the changes of the entities
		// derived from it (slots that turn free because appointments were deleted).
		entities := mapping.WithDerived(entity)
		n, err := st.ConfirmHeld(ctx, entities...)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%d held deletions and changes confirmed (%s); the next poll sends those still pending\n", n, strings.Join(nonEmpty(entities, "all entities"), ", "))
		return nil
	}
	held, err := st.HeldDeletions(ctx)
	if err != nil {
		return err
	}
	if len(held) == 0 {
		fmt.Fprintln(c.stdout, "no held deletions")
		return nil
	}
	return printHeld(c.stdout, held, args[1:], cfg.Location)
}

// printHeld prints counts per entity first; the keys only of the entities named
// (`medsync deletions list appointment`), or of all with "all".
func printHeld(w io.Writer, held []store.Held, detail []string, loc *time.Location) error {
	type sum struct {
		n, flips, confirmed int
		since               string
	}
	per := map[string]*sum{}
	var order []string
	for _, h := range held {
		s := per[h.Entity]
		if s == nil {
			s = &sum{since: h.HeldAt}
			per[h.Entity] = s
			order = append(order, h.Entity)
		}
		s.n++
		if h.Kind == store.HeldFlip {
			s.flips++ // a derived record's held change: a slot turning free
		}
		if h.Confirmed {
			s.confirmed++
		}
		if h.HeldAt < s.since {
			s.since = h.HeldAt
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	// CHANGES: of HELD, derived records' changes (slots turning free), not deletions.
	fmt.Fprintln(tw, "ENTITY\tHELD\tCONFIRMED\tHELD SINCE\tCHANGES")
	for _, e := range order {
		s := per[e]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\n", e, s.n, s.confirmed, localTime(s.since, loc), s.flips)
	}
	tw.Flush()
	show := map[string]bool{}
	for _, d := range detail {
		show[d] = true
	}
	if len(show) == 0 {
		fmt.Fprintln(w, "\nkeys: medsync deletions list ENTITY (or all); send them: medsync deletions confirm [ENTITY]")
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tKEY\tHELD SINCE\tCONFIRMED\tHELD")
	for _, h := range held {
		if show["all"] || show[h.Entity] {
			what := "delete"
			if h.Kind == store.HeldFlip {
				what = "change" // a slot turning free
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", h.Entity, h.Key, localTime(h.HeldAt, loc), h.Confirmed, what)
		}
	}
	return tw.Flush()
}

// nonEmpty returns list without empty strings, or {none} when nothing is left.
func nonEmpty(list []string, none string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return []string{none}
	}
	return out
}

func (c *cli) config(args []string) error {
	if len(args) == 0 || args[0] != "show" {
		return &exitError{code: 2, err: fmt.Errorf("usage: medsync config show")}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, cfg.Show())
	return nil
}

// queue lists the outbox per connector, and drops the queue of a connector that is
// no longer in the config (its events would otherwise wait forever).
func (c *cli) queue(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "list" && !(args[0] == "drop" && len(args) == 2)) {
		return &exitError{code: 2, err: fmt.Errorf("usage: medsync queue list | medsync queue drop <connector>")}
	}
	st, cfg, err := c.openStore(ctx, args[0] == "drop")
	if err != nil {
		return err
	}
	defer st.Close()
	configured := map[string]bool{}
	for _, cc := range cfg.Enabled() {
		configured[cc.Name] = true
	}
	if args[0] == "drop" {
		name := args[1]
		if configured[name] {
			return fmt.Errorf("queue drop: connector %s is enabled in %s; remove its section or set enabled = false first", name, cfg.File)
		}
		n, err := st.DropQueue(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%d queued events of connector %s dropped; if it is configured again, it gets the current state once\n", n, name)
		return nil
	}
	q, err := st.QueuedByConnector(ctx)
	if err != nil {
		return err
	}
	for name := range configured {
		if _, ok := q[name]; !ok {
			q[name] = 0
		}
	}
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTOR\tQUEUED\tIN CONFIG")
	for _, n := range names {
		note := "yes"
		if !configured[n] {
			note = "no: medsync queue drop " + n
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", n, q[n], note)
	}
	return tw.Flush()
}

// localTime shows a state-store timestamp (RFC 3339, UTC) in the service zone with its
// offset, as every time a person reads.
func localTime(s string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.In(loc).Format("2006-01-02 15:04:05 -07:00")
}
