// Package app wires medsync together from a loaded config: the MIS connection and
// profile, the state store, the configured connectors and the engine. The command
// line, the OS service wrapper and the status server all start from here.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/mapping/demo"
	"medsync/service/config"
	"medsync/service/engine"
	"medsync/service/linkcodes"
	"medsync/service/logging"
	"medsync/service/store"
)

// App is a running medsync instance.
type App struct {
	Cfg     *config.Config
	Log     *slog.Logger
	Store   *store.Store
	DB      *sql.DB
	Dialect string
	Profile *mapping.Profile
	Source  *mapping.Source
	Engine  *engine.Engine
	Targets []*engine.Target
	// LinkCodes issues patient link codes; nil unless [linkcodes] enabled = true. Its
	// Handler() is the registrar page, mounted at linkcodes.Prefix when
	// [registrar] enabled = true.
	LinkCodes *linkcodes.Service
}

// Options adjust how an App is built (tests use them).
type Options struct {
	Hooks    engine.Hooks
	Observer engine.Observer
	Chunk    int // engine.Options.Chunk (tests)
}

// Open connects to the MIS, opens the state store and builds the connectors and the
// engine. On error everything opened so far is closed again.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) (a *App, err error) {
	a = &App{Cfg: cfg, Log: log}
	opened := a // the returns below set a to nil before this runs
	defer func() {
		if err != nil {
			opened.Close()
			a = nil
		}
	}()
	a.Profile, err = mapping.LoadProfile(cfg.MIS.Profile)
	if err != nil {
		return nil, fmt.Errorf("%s: [mis] profile: %w", cfg.File, err)
	}
	a.Store, err = store.OpenWith(ctx, cfg.Service.StateDir, store.Options{Backup: BackupOptions(cfg)})
	if err != nil {
		return nil, err
	}
	if err := ensureDemo(ctx, cfg, log); err != nil {
		return nil, err
	}
	a.DB, a.Dialect, err = mapping.OpenDB(ctx, cfg.MIS.Driver, cfg.MIS.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: [mis]: %w", cfg.File, err)
	}
	srcOpt := mapping.SourceOptions{
		Zone: cfg.Location, QueryTimeout: cfg.MIS.QueryTimeout, Charset: cfg.MIS.Charset, Logger: log,
		OnRows: rowsReporter(opt.Observer),
	}
	// Link codes read patient cards by key and take the first row of a key read twice.
	patients := mapping.NewSource(a.DB, a.Dialect, a.Profile, srcOpt)
	// The engine's reads (a.Source: the status page's unmapped codes are what they
	// met): its differ recognises a key read twice against the snapshot, so the reads
	// keep no set of their keys (16 MB for a million rows).
	srcOpt.DuplicatesChecked = true
	a.Source = mapping.NewSource(a.DB, a.Dialect, a.Profile, srcOpt)
	var mis connectors.MISWriter
	if a.Profile.HasWrites(a.Dialect) {
		mis = mapping.NewWriter(a.DB, a.Dialect, a.Profile)
	}
	for _, cc := range cfg.Enabled() {
		conn, err := cc.Spec.New(cfg.Env(cc, log), cc.Values)
		if err != nil {
			return nil, fmt.Errorf("connector %s: %w", cc.Name, err)
		}
		a.Targets = append(a.Targets, &engine.Target{
			Name: cc.Name, Conn: conn, Entities: cc.Entities, BatchSize: cc.BatchSize, Keeps: cc.Spec.Keeps,
		})
	}
	if len(a.Targets) == 0 {
		log.Warn("no connector is enabled: polls will read the MIS but send nothing", "config", cfg.File)
	}
	var afterPoll func(context.Context)
	if cfg.LinkCodes.Enabled {
		if cfg.Registrar.Enabled {
			if err := linkcodes.CheckListen(cfg.Service.StatusListen, cfg.Registrar.TLS(), cfg.Registrar.AllowPlainHTTPOnLAN); err != nil {
				return nil, fmt.Errorf("%s: %w", cfg.File, err)
			}
		}
		a.LinkCodes, err = linkcodes.New(ctx, linkcodes.Options{
			Config: cfg.LinkCodes, Registrar: cfg.Registrar, StateDir: cfg.Service.StateDir, Zone: cfg.Location,
			Patients: patients, MIS: mis, Registrars: linkcodes.RegistrarsFrom(a.Targets), Logger: log,
			SecureCookies: cfg.Registrar.TLS(), Deletions: heldReview{a.Store},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: [linkcodes]: %w", cfg.File, err)
		}
		afterPoll = a.LinkCodes.AfterPoll
	}
	a.Engine, err = engine.New(engine.Options{
		Reader: a.Source, Store: a.Store, Targets: a.Targets, MIS: mis,
		Zone: cfg.Location, DaysBack: cfg.MIS.DaysBack, DaysAhead: cfg.MIS.DaysAhead,
		Guard:         engine.Guard{MaxShare: cfg.Guard.MaxDeleteShare, MinCount: cfg.Guard.MinDeleteCount},
		Backoff:       engine.Backoff{Initial: cfg.Dispatch.BackoffInitial, Max: cfg.Dispatch.BackoffMax, MaxAttempts: cfg.Dispatch.MaxAttempts},
		FullReadEvery: cfg.MIS.FullReadEvery,
		StateDir:      cfg.Service.StateDir,
		Logger:        log,
		Redactor:      logging.NewRedactor(config.Secrets(cfg)),
		Hooks:         opt.Hooks,
		Observer:      opt.Observer,
		Chunk:         opt.Chunk,
		AfterPoll:     afterPoll,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ensureDemo creates and seeds the demo MIS on first start when the config points the
// demo profile at an SQLite file that does not exist yet, so that the shipped
// config.ini runs out of the box. A real MIS is never touched.
func ensureDemo(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if cfg.MIS.Profile != config.ProfileDemo || cfg.MIS.Driver != config.DriverSQLite {
		return nil
	}
	path := demo.SQLitePath(cfg.MIS.DSN)
	if path == "" {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	st, err := demo.Init(ctx, cfg.MIS.Driver, cfg.MIS.DSN, demo.DefaultSizes())
	if err != nil {
		return fmt.Errorf("%s: [mis] dsn: creating the demo MIS at %s: %w", cfg.File, path, err)
	}
	log.Info("demo MIS created (first start with the demo profile)", "path", path,
		"patients", st.Patients, "appointments", st.Appointments)
	return nil
}

// BackupOptions are the state store backup settings of [service] backup_*.
func BackupOptions(cfg *config.Config) store.BackupOptions {
	return store.BackupOptions{Dir: cfg.Service.BackupDir, Keep: cfg.Service.BackupKeep, Every: cfg.Service.BackupEvery, Off: cfg.Service.BackupEvery == 0}
}

// OnceResult is what `medsync once` did.
type OnceResult struct {
	Poll      *engine.PollSummary
	Delivered map[string]engine.DeliverResult
	RunErr    error
}

// Failed reports whether anything failed: a read, a delivery, a connector run.
func (r *OnceResult) Failed() bool {
	if !r.Poll.OK() || r.RunErr != nil {
		return true
	}
	for _, d := range r.Delivered {
		if d.Retrying > 0 || d.DeadLettered > 0 || !d.PausedUntil.IsZero() {
			return true
		}
	}
	return false
}

// Once runs one poll, the connectors' own work, and one delivery round.
func (a *App) Once(ctx context.Context) (*OnceResult, error) {
	r := &OnceResult{}
	// Events a long poll commits chunk by chunk are delivered while it reads on.
	during, duringErr := a.Engine.DeliverDuring(ctx, func() { r.Poll = a.Engine.Poll(ctx) })
	r.RunErr = a.Engine.RunConnectors(ctx)
	if a.LinkCodes != nil {
		a.LinkCodes.AfterPoll(ctx)
	}
	rest, err := a.Engine.DeliverAll(ctx)
	r.Delivered = engine.AddDelivered(rest, during)
	return r, errors.Join(duringErr, err)
}

// Run polls on the configured schedule and delivers, and runs the connectors that
// serve requests, until ctx is done.
func (a *App) Run(ctx context.Context) {
	a.Log.Info("medsync started", "config", a.Cfg.File, "mis", a.Cfg.MIS.Driver, "profile", a.Profile.Name,
		"connectors", len(a.Targets), "state", a.Store.Path())
	backups := make(chan struct{})
	go func() {
		defer close(backups)
		a.Store.RunBackups(ctx, a.Log)
	}()
	served := make(chan struct{})
	go func() { // connectors that serve requests (connectors.Server) listen meanwhile
		a.Engine.Serve(ctx)
		close(served)
	}()
	a.Engine.Run(ctx, a.Cfg.Schedule())
	<-backups
	<-served
	a.Log.Info("medsync stopped")
}

// Close releases everything.
func (a *App) Close() error {
	var errs []error
	for _, t := range a.Targets {
		if err := t.Conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", t.Name, err))
		}
	}
	if a.LinkCodes != nil {
		errs = append(errs, a.LinkCodes.Close())
	}
	if a.DB != nil {
		errs = append(errs, a.DB.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}
