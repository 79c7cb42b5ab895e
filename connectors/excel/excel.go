// Package excel is medsync's Excel connector. It imports employers' staff lists for
// periodic check-ups (профосмотр) — .xlsx, .ods or .csv — from an inbox folder per
// organization into the MIS, through the profile's write.staff_* statements, in a worker
// beside the poll, leaving a Russian result workbook beside each processed file (with a
// sheet on which the registrar recognises unknown harmful-factor codes; the workbook
// dropped back applies them); and on cron schedules it exports workbooks for the
// registry: tomorrow's call list per branch («обзвон») and the doctors' schedule for the
// coming week, built from the appointment, patient, doctor, branch and shift events the
// connector receives.
package excel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

func init() {
	connectors.Register(&connectors.Spec{
		Name:        "excel",
		Description: "staff lists for check-ups from an inbox folder into the MIS; scheduled call-list and doctors' schedule workbooks",
		Entities: []string{mapping.EntityBranch, mapping.EntitySpecialty, mapping.EntityDoctor,
			mapping.EntityPatient, mapping.EntityShift, mapping.EntityAppointment},
		Options: options,
		New: func(env connectors.Env, cfg *connectors.Values) (connectors.Connector, error) {
			return New(env, cfg)
		},
	})
}

// Connector is the Excel connector. It implements connectors.Connector,
// connectors.Runner and connectors.Checker.
type Connector struct {
	env connectors.Env
	cfg *config
	log *slog.Logger
	st  *store
	now func() time.Time

	runMu       sync.Mutex
	seen        map[string]fileStamp // inbox files seen in the previous round (poll side)
	unsupported bool                 // "imports unsupported" already logged
	skipped     map[string]bool      // owner/hidden files already logged

	// Imports run beside the poll, one file at a time, in the worker goroutine.
	mu      sync.Mutex
	idle    *sync.Cond
	queue   []importJob
	queued  map[string]bool // paths queued or being imported
	failure error           // a state error of the worker, returned by the next Run
	bg      context.Context
	stop    context.CancelFunc
	done    chan struct{}
	wake    chan struct{}
}

// fileStamp is what a file looked like when last seen.
type fileStamp struct {
	size int64
	mod  time.Time
}

// New builds the connector from its config section.
func New(env connectors.Env, values *connectors.Values) (*Connector, error) {
	cfg, err := parseConfig(env, values)
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("connector", "excel")
	if env.Instance != "" && env.Instance != "excel" {
		log = log.With("instance", env.Instance)
	}
	st, err := openStore(context.Background(), env.StateFile("excel"))
	if err != nil {
		return nil, err
	}
	c := &Connector{env: env, cfg: cfg, log: log, st: st, now: time.Now, seen: map[string]fileStamp{}, skipped: map[string]bool{},
		queued: map[string]bool{}, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	c.idle = sync.NewCond(&c.mu)
	c.bg, c.stop = context.WithCancel(context.Background())
	go c.worker()
	return c, nil
}

// closeWait is how long Close lets the worker finish the files already queued (so that
// `medsync once` imports what its poll found) before it stops it.
const closeWait = 30 * time.Second

// Close lets the import worker finish the queued files for up to closeWait, then stops
// it (an import still in progress is rolled back and its file stays in the inbox for
// the next start) and releases the state file.
func (c *Connector) Close() error {
	idle := make(chan struct{})
	go func() { c.wait(); close(idle) }()
	select {
	case <-idle:
	case <-time.After(closeWait):
		c.log.Warn("stopping with staff-list imports unfinished; their files stay in the inboxes for the next start")
	}
	c.stop()
	<-c.done
	return c.st.Close()
}

// Check reports whether the inbox and export folders are usable.
func (c *Connector) Check(ctx context.Context) []connectors.Check {
	var out []connectors.Check
	for _, o := range c.cfg.Orgs {
		out = append(out, connectors.Check{
			Name: fmt.Sprintf("excel: inbox of %s (%s)", o.Code, o.Inbox),
			Err:  checkWritableDir(o.Inbox),
			Hint: "create the folder and let the service account read, write and delete files in it",
		})
	}
	if len(c.cfg.Exports) > 0 {
		out = append(out, connectors.Check{
			Name: "excel: export folder " + c.cfg.ExportDir,
			Err:  checkWritableDir(c.cfg.ExportDir),
			Hint: "create the folder and let the service account write there",
		})
	}
	return out
}

func checkWritableDir(dir string) error {
	if err := ensureDir(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".medsync-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Run checks every inbox once, queues the settled files for the import worker (it
// does not wait for imports: a big file never holds the poll), and runs the exports
// whose schedule has come. Problems with single files are logged and written to result
// workbooks; Run returns an error only when the connector's own state cannot be used.
func (c *Connector) Run(ctx context.Context, host connectors.Host) error {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	log := c.log
	if host != nil && host.Logger() != nil {
		log = host.Logger().With("connector", "excel")
	}
	var errs []error
	if len(c.cfg.Orgs) > 0 {
		var w connectors.MISWriter
		if host != nil {
			w = host.MIS()
		}
		if missing := missingStatements(w); len(missing) > 0 {
			if !c.unsupported {
				log.Warn("staff-list imports are unsupported: the MIS profile declares no write statements for them; files stay in the inboxes untouched",
					"missing", strings.Join(missing, ", "))
				c.unsupported = true
			}
		} else {
			c.unsupported = false
			for _, o := range c.cfg.Orgs {
				if err := c.pollInbox(ctx, log, w, o); err != nil {
					errs = append(errs, err)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
	}
	if err := c.runExports(ctx, log, host); err != nil {
		errs = append(errs, err)
	}
	c.mu.Lock()
	if c.failure != nil {
		errs = append(errs, c.failure)
		c.failure = nil
	}
	c.mu.Unlock()
	return errors.Join(errs...)
}

// uniquePath returns dir/name, or dir/name with a time stamp when that exists.
func uniquePath(dir, name string, now time.Time) string {
	p := filepath.Join(dir, name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		return p
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 0; ; i++ {
		suffix := now.Format("_20060102-150405")
		if i > 0 {
			suffix += fmt.Sprintf("-%d", i)
		}
		p = filepath.Join(dir, base+suffix+ext)
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func ruStamp(rfc3339 string, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return rfc3339
	}
	return t.In(loc).Format("02.01.2006 15:04")
}
