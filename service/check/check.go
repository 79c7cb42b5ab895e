// Package check is `medsync check`, the first thing support asks a clinic to run: it
// validates config.ini, connects to the MIS, runs every read statement of the profile
// on a few rows (every row with Options.All) and compares the columns with the
// canonical contract, converts a few records of each entity (all, with Options.All,
// counting skipped rows per entity and problem), reports entities a connector takes
// that the profile cannot read, opens the state store (queues of removed connectors,
// version-drift alerts) and the status port, and asks each enabled connector that can
// (connectors.Checker) whether its peer is reachable and accepts the credentials.
// Each check is one line with ✓ or ✗ and, when it fails, what to do.
package check

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/service/config"
	"medsync/service/store"
)

// Options tune the checks.
type Options struct {
	Rows    int           // rows read per statement (default 5)
	All     bool          // read every row of every statement (Rows is ignored)
	Timeout time.Duration // per check (default 30s)
	Logger  *slog.Logger  // for connectors built for the check (default: discarded)
	Now     func() time.Time
}

// Result is one check.
type Result struct {
	OK      bool
	Warning bool // OK, but the operator must read Detail and Hint
	Name    string
	Detail  string // what was found
	Hint    string // what to do, when it failed
}

// Report is every check made.
type Report struct {
	Results []Result
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Results {
		if !c.OK {
			return false
		}
	}
	return len(r.Results) > 0
}

// Failed returns the failed checks.
func (r *Report) Failed() []Result {
	var out []Result
	for _, c := range r.Results {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

type checker struct {
	o   Options
	w   io.Writer
	rep *Report
	// registrars counts enabled connectors that take link codes (connectors.LinkRegistrar).
	registrars int
}

func (c *checker) add(r Result) {
	c.rep.Results = append(c.rep.Results, r)
	if c.w == nil {
		return
	}
	mark := "✓"
	if !r.OK {
		mark = "✗"
	} else if r.Warning {
		mark = "!"
	}
	line := mark + " " + r.Name
	if r.Detail != "" {
		line += ": " + r.Detail
	}
	fmt.Fprintln(c.w, line)
	if (!r.OK || r.Warning) && r.Hint != "" {
		fmt.Fprintln(c.w, "    → "+r.Hint)
	}
}

func (c *checker) pass(name, detail string) { c.add(Result{OK: true, Name: name, Detail: detail}) }
func (c *checker) fail(name string, err error, hint string) {
	c.add(Result{Name: name, Detail: err.Error(), Hint: hint})
}

// Run makes every check for the config file at cfgPath, printing one line per check
// to w (nil: print nothing).
func Run(ctx context.Context, cfgPath string, w io.Writer, o Options) *Report {
	if o.Rows <= 0 {
		o.Rows = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &checker{o: o, w: w, rep: &Report{}}

	cfg, err := config.Load(cfgPath)
	if err != nil {
		c.fail("config", err, "fix the lines named above in the config file, then run medsync check again")
		return c.rep
	}
	c.pass("config", cfg.File)

	c.stateStore(ctx, cfg)
	c.statusPort(ctx, cfg)
	c.mis(ctx, cfg)
	c.connectors(ctx, cfg)
	c.linkCodes(ctx, cfg)
	return c.rep
}

func (c *checker) stateStore(ctx context.Context, cfg *config.Config) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	st, err := store.Open(ctx, cfg.Service.StateDir)
	detail := ""
	if errors.Is(err, store.ErrLocked) {
		// The service runs: check its store read-only, beside it.
		detail = " (in use by " + store.ReadHolder(cfg.Service.StateDir).String() + "; checked read-only)"
		st, err = store.OpenReadOnly(ctx, cfg.Service.StateDir)
	}
	if err != nil {
		hint := fmt.Sprintf("check [service] state_dir in %s: the folder must exist or be creatable, and be writable by the service account", cfg.File)
		if store.FaultOf(err) != store.FaultOther {
			hint = "see the message above: it says what the fault means and what to do (service/README.md, «State store faults»)"
		}
		c.fail("state store", err, hint)
		return
	}
	defer st.Close()
	c.pass("state store", st.Path()+detail)
	c.backups(cfg)
	c.versionDrift(ctx, st)
	// Events queued for a connector the config no longer has would wait forever.
	q, err := st.QueuedByConnector(ctx)
	if err != nil {
		c.fail("state store queues", err, "the state store cannot be read: check the disk and the file's permissions")
		return
	}
	enabled := map[string]bool{}
	for _, cc := range cfg.Enabled() {
		enabled[cc.Name] = true
	}
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if n := q[name]; !enabled[name] {
			c.add(Result{Name: "queue " + name, Detail: fmt.Sprintf("%d events are queued for connector %s, which is not enabled in the config", n, name),
				Hint: fmt.Sprintf("put [connector.%s] back (or enabled = true) to deliver them, or run: medsync queue drop %s", name, name)})
		}
	}
}

// backups reports the state store's newest backup, and warns when backups are off or
// the newest is older than two backup intervals (a service that has not run, or
// whose backups fail: the log says why).
func (c *checker) backups(cfg *config.Config) {
	const name = "state store backups"
	sv := cfg.Service
	if sv.BackupEvery == 0 {
		c.add(Result{OK: true, Warning: true, Name: name, Detail: "[service] backup_every = 0: no scheduled backups",
			Hint: "set backup_every (e.g. 24h), or run medsync state backup from a scheduled task; a damaged store without a backup can only be rebuilt, losing deletions (service/README.md)"})
		return
	}
	list, err := store.Backups(sv.StateDir, store.BackupOptions{Dir: sv.BackupDir})
	if err != nil {
		c.fail(name, err, "the backup folder ([service] backup_dir) must be readable and writable by the service account")
		return
	}
	if len(list) == 0 {
		c.pass(name, "none yet in "+sv.BackupDir+"; the service makes one at start and every "+sv.BackupEvery.String())
		return
	}
	newest := list[len(list)-1]
	age := time.Since(newest.Time).Round(time.Minute)
	detail := fmt.Sprintf("newest %s, %s old; %d in %s", filepath.Base(newest.Path), age, len(list), sv.BackupDir)
	if age > 2*sv.BackupEvery {
		c.add(Result{OK: true, Warning: true, Name: name, Detail: detail,
			Hint: "the service makes one every backup_every: is it running? the log says why a backup failed; make one now with medsync state backup"})
		return
	}
	c.pass(name, detail)
}

// statusPort checks that [service] status_listen can be opened, or is already served
// by a running medsync.
func (c *checker) statusPort(ctx context.Context, cfg *config.Config) {
	addr := cfg.Service.StatusListen
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		c.pass("status port", addr+" is free")
		return
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(hctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/status.json", nil)
	if resp, herr := http.DefaultClient.Do(req); herr == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			c.pass("status port", addr+" is served by the running medsync")
			return
		}
	}
	c.fail("status port", fmt.Errorf("%s: [service] status_listen: cannot listen on %s: %v", cfg.File, addr, err),
		"another program uses this port: stop it or set another port in [service] status_listen")
}

func (c *checker) mis(ctx context.Context, cfg *config.Config) {
	prof, err := mapping.LoadProfile(cfg.MIS.Profile)
	if err != nil {
		c.fail("MIS profile", fmt.Errorf("%s: [mis] profile: %w", cfg.File, err), "fix the profile files named above, or set [mis] profile = demo | views | <folder>")
		return
	}
	c.pass("MIS profile", prof.Name+" ("+prof.Origin+")")

	octx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	db, dialect, err := mapping.OpenDB(octx, cfg.MIS.Driver, cfg.MIS.DSN)
	cancel()
	if err != nil {
		c.fail("MIS connection", fmt.Errorf("%s: [mis] dsn: %w", cfg.File, err), fmt.Sprintf("fix [mis] dsn in %s (host, port, user, password, database), then run medsync check again", cfg.File))
		return
	}
	defer db.Close()
	c.pass("MIS connection", cfg.MIS.Driver+" ("+dialect+")")

	stmts := prof.Statements(dialect)
	if len(stmts) == 0 {
		c.fail("MIS statements", fmt.Errorf("profile %s has no statements for %s", prof.Name, dialect),
			fmt.Sprintf("use a profile written for %s, or add %s.sql to the profile folder", dialect, dialect))
		return
	}
	win := engineWindow(cfg, c.o.Now())
	params := windowParams(cfg.Location, win)
	for _, st := range stmts {
		want, ok := mapping.ContractColumns(st.Name)
		if !ok {
			continue // write statements are not run by check
		}
		c.statement(ctx, db, dialect, prof, st, want, params)
	}

	src := mapping.NewSource(db, dialect, prof, mapping.SourceOptions{
		Zone: cfg.Location, QueryTimeout: c.o.Timeout, Charset: cfg.MIS.Charset, Logger: c.o.Logger,
	})
	c.unreadEntities(cfg, prof, src)
	for _, ent := range mapping.Entities {
		if _, ok := prof.Statement(dialect, ent+".rows"); !ok {
			continue
		}
		c.convert(ctx, src, ent, win, cfg.MIS.MaxSkippedShare)
	}
	c.unmapped(src)
	c.horizon(ctx, src, win, cfg)
	c.clock(ctx, db, dialect, cfg)
}

// unreadEntities reports each entity an enabled connector takes that the profile has
// no statement for: the engine polls only entities the profile can read, so that
// entity would silently not be synced.
func (c *checker) unreadEntities(cfg *config.Config, prof *mapping.Profile, src *mapping.Source) {
	for _, cc := range cfg.Enabled() {
		for _, ent := range cc.Entities {
			if src.Has(ent) {
				continue
			}
			need := ent + ".rows"
			if ent == mapping.EntitySlot {
				need = "shift.rows and slot.busy"
			}
			c.add(Result{Name: "entity " + ent,
				Detail: fmt.Sprintf("profile %s has no statement for entity %s, which connector %s takes: %s is not synced", prof.Name, ent, cc.Name, ent),
				Hint:   fmt.Sprintf("add %s to the profile (see mapping/profiles/README.md), or remove %s from [connector.%s] entities", need, ent, cc.Name)})
		}
	}
}

// versionDrift reports the open version-drift alerts: a full read found records whose
// content changed while their MIS version did not.
func (c *checker) versionDrift(ctx context.Context, st *store.Store) {
	drifts, err := st.VersionDrifts(ctx)
	if err != nil {
		c.fail("state store alerts", err, "the state store cannot be read: check the disk and the file's permissions")
		return
	}
	for _, d := range drifts {
		c.add(Result{Name: "versions of " + d.Entity,
			Detail: fmt.Sprintf("the full read of %s found %d records changed while their version did not (e.g. %s)", d.At.Format(time.RFC3339), d.Count, strings.Join(d.Keys, ", ")),
			Hint:   d.Advice() + "; the alert clears when a full read finds none"})
	}
}

var errEnough = errors.New("enough rows")

// statement runs one read statement, reads a few rows, and compares its columns with
// the contract.
func (c *checker) statement(ctx context.Context, db *sql.DB, dialect string, prof *mapping.Profile, st mapping.ProfileStatement, want []string, params map[string]any) {
	name := "statement " + st.Name
	where := fmt.Sprintf("profile %s, %s", prof.Name, st.Where())
	q, args, err := mapping.RenderSQL(dialect, st.SQL, params)
	if err != nil {
		c.fail(name, fmt.Errorf("%s: %w", where, err), "fix the statement's parameters (see mapping/profiles/README.md)")
		return
	}
	qctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	rows, err := db.QueryContext(qctx, q, args...)
	if err != nil {
		c.fail(name, fmt.Errorf("%s: %w", where, err), "the statement fails on this MIS: check that the tables and columns it names exist and the MIS user may read them")
		return
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		c.fail(name, fmt.Errorf("%s: %w", where, err), "run the statement by hand in the MIS to see why")
		return
	}
	n := 0
	for (c.o.All || n < c.o.Rows) && rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		c.fail(name, fmt.Errorf("%s: reading rows: %w", where, err), "run the statement by hand in the MIS to see why")
		return
	}
	if strings.HasSuffix(st.Name, ".rows") || strings.HasSuffix(st.Name, ".by_keys") {
		// Full-row statements may also return the row's version (AS version).
		cols = slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return strings.EqualFold(strings.TrimSpace(c), "version") })
	}
	if strings.HasSuffix(st.Name, ".rows") || strings.HasSuffix(st.Name, ".by_keys") || strings.HasSuffix(st.Name, ".versions") {
		// ...and its checksum for day summaries (AS checksum, see <entity>.summary).
		cols = slices.DeleteFunc(slices.Clone(cols), func(c string) bool { return strings.EqualFold(strings.TrimSpace(c), "checksum") })
	}
	missing, unexpected := diff(want, cols)
	if len(missing) > 0 || len(unexpected) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "missing columns: "+strings.Join(missing, ", "))
		}
		if len(unexpected) > 0 {
			parts = append(parts, "unexpected columns: "+strings.Join(unexpected, ", "))
		}
		c.add(Result{Name: name, Detail: where + ": " + strings.Join(parts, "; "),
			Hint: "alias the MIS columns to the canonical names (expected: " + strings.Join(want, ", ") + "); return NULL AS <name> for a value the MIS lacks"})
		return
	}
	c.pass(name, fmt.Sprintf("%d columns as expected, %d rows read", len(cols), n))
}

func diff(want, got []string) (missing, unexpected []string) {
	has := map[string]bool{}
	for _, g := range got {
		has[strings.ToLower(strings.TrimSpace(g))] = true
	}
	exp := map[string]bool{}
	for _, w := range want {
		exp[w] = true
		if !has[w] {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !exp[strings.ToLower(strings.TrimSpace(g))] {
			unexpected = append(unexpected, g)
		}
	}
	return missing, unexpected
}

// convert reads a few records of an entity (all, with Options.All) through the
// profile's converters: a value of the wrong type shows up as a skipped row. With
// All, the skips are counted per problem, and more than maxSkipped of the rows
// skipped fails the check (as it fails `medsync once`).
func (c *checker) convert(ctx context.Context, src *mapping.Source, entity string, win mapping.Window, maxSkipped float64) {
	name := "entity " + entity
	rctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	n := 0
	var skips []mapping.Skip
	err := src.ReadAll(rctx, entity, win, func(mapping.Item) error {
		n++
		if !c.o.All && n+len(skips) >= c.o.Rows {
			return errEnough
		}
		return nil
	}, func(s mapping.Skip) {
		skips = append(skips, s)
	})
	if err != nil && !errors.Is(err, errEnough) {
		c.fail(name, err, "fix the profile statement named above")
		return
	}
	hint := "a column has the wrong type or format for its converter: fix the statement or the converter in profile.ini, or the rows in the MIS"
	if len(skips) > 0 && n == 0 {
		c.add(Result{Name: name, Detail: fmt.Sprintf("none of %d rows converts; %s", len(skips), skipSummary(skips, c.o.All)), Hint: hint})
		return
	}
	detail := fmt.Sprintf("%d records converted", n)
	if len(skips) > 0 {
		detail += fmt.Sprintf(", %d rows skipped; %s", len(skips), skipSummary(skips, c.o.All))
	}
	if n == 0 {
		detail = "no rows (in the poll window)"
	}
	if c.o.All && maxSkipped < 1 && float64(len(skips)) > maxSkipped*float64(n+len(skips)) {
		c.add(Result{Name: name, Detail: detail + fmt.Sprintf(" — more than max_skipped_share = %g of [mis]: medsync once exits 4", maxSkipped), Hint: hint})
		return
	}
	c.pass(name, detail)
}

// skipSummary describes skipped rows: the first one, or with all, a count per
// problem (the column and the reason, without the row's values).
func skipSummary(skips []mapping.Skip, all bool) string {
	if !all {
		return "first: " + skips[0].String()
	}
	type group struct {
		n     int
		first mapping.Skip
	}
	groups := map[string]*group{}
	var order []string
	for _, s := range skips {
		k := problemKind(s.Problem)
		g := groups[k]
		if g == nil {
			g = &group{first: s}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
	}
	sort.SliceStable(order, func(i, j int) bool { return groups[order[i]].n > groups[order[j]].n })
	parts := make([]string, 0, len(order))
	for _, k := range order {
		g := groups[k]
		parts = append(parts, fmt.Sprintf("%s: %d (e.g. %s)", k, g.n, g.first))
	}
	return "per problem: " + strings.Join(parts, "; ")
}

// problemKind is a skip problem without its values: quoted text and numbers are
// dropped ("birth_date: OLE day 0 is not a date" → "birth_date: OLE day is not a
// date"), so that rows with the same problem fall into one group.
func problemKind(p string) string {
	var b strings.Builder
	inQuote := false
	for _, r := range p {
		if r == '"' {
			inQuote = !inQuote
			continue
		}
		if !inQuote && (r < '0' || r > '9') {
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func (c *checker) connectors(ctx context.Context, cfg *config.Config) {
	enabled := cfg.Enabled()
	if len(enabled) == 0 {
		c.add(Result{Name: "connectors", Detail: "none is enabled: polls would read the MIS but send nothing",
			Hint: fmt.Sprintf("set enabled = true in a [connector.NAME] section of %s", cfg.File)})
		return
	}
	for _, cc := range enabled {
		name := "connector " + cc.Name
		conn, err := cc.Spec.New(cfg.Env(cc, c.o.Logger), cc.Values)
		if err != nil {
			c.fail(name, err, fmt.Sprintf("fix [connector.%s] in %s", cc.Name, cfg.File))
			continue
		}
		if _, ok := conn.(connectors.LinkRegistrar); ok {
			c.registrars++
		}
		ch, ok := conn.(connectors.Checker)
		if !ok {
			c.pass(name, cc.Type+": configured (this connector type has no reachability check)")
			conn.Close()
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
		checks := ch.Check(cctx)
		cancel()
		for _, k := range checks {
			n := name + ": " + k.Name
			if k.Err != nil {
				hint := k.Hint
				if hint == "" {
					hint = fmt.Sprintf("check [connector.%s] in %s", cc.Name, cfg.File)
				}
				c.fail(n, k.Err, hint)
			} else {
				c.pass(n, "")
			}
		}
		if len(checks) == 0 {
			c.pass(name, cc.Type+": configured")
		}
		c.serving(ctx, cfg, name, conn)
		conn.Close()
	}
}

// engineWindow is the poll window the engine would use now.
func engineWindow(cfg *config.Config, now time.Time) mapping.Window {
	n := now.In(cfg.Location)
	today := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, cfg.Location)
	return mapping.Window{From: today.AddDate(0, 0, -cfg.MIS.DaysBack), To: today.AddDate(0, 0, cfg.MIS.DaysAhead+1)}
}

// windowParams are the named parameters the reader gives every statement (since an
// hour ago for <entity>.changed); keys is a key no MIS has, so *.by_keys statements
// run and return no rows.
func windowParams(loc *time.Location, w mapping.Window) map[string]any {
	p := mapping.SinceParams(loc, w, time.Now().Add(-time.Hour))
	p["keys"] = []string{"-1999999999"} // a whole number, so that integer key columns (PostgreSQL, Firebird) compare too
	return p
}
