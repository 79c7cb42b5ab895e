// Package daemon runs medsync as an operating system service with
// github.com/kardianos/service: a Windows service (automatic start, restart on
// failure through the service recovery actions, start/stop/errors in the Event Log)
// or a systemd unit on Linux (Restart=on-failure, logs in the journal). It builds the
// service definition from [service] in config.ini, installs and controls it, and holds
// the Program both the installed service and an interactive `medsync run` go through.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kardianos/service"
	"github.com/prometheus/client_golang/prometheus"

	"medsync/service/app"
	"medsync/service/config"
	"medsync/service/linkcodes"
	"medsync/service/logging"
	"medsync/service/status"
)

// StopTimeout bounds how long Stop waits for the current poll and delivery batch.
const StopTimeout = 5 * time.Second

// ServiceConfig is the service definition for cfg on the given platform ("windows",
// "linux", …; runtime.GOOS for the running one): exe runs `-c <absolute config> run`,
// starts automatically and is restarted when it fails.
func ServiceConfig(cfg *config.Config, exe, goos string) *service.Config {
	sc := &service.Config{
		Name:             cfg.Service.Name,
		DisplayName:      cfg.Service.DisplayName,
		Description:      "medsync: keeps the clinic's MIS in step with ONDOC, ЕПГУ-linked portals and Excel. Config: " + cfg.File,
		Executable:       exe,
		Arguments:        serviceArgs(cfg),
		WorkingDirectory: cfg.Dir,
		Option: service.KeyValue{
			// Windows: automatic start, recovery action "restart the service" 10 s
			// after each failure, failure count reset after a day.
			"StartType":              "automatic",
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "10s",
			"OnFailureResetPeriod":   86400,
			// systemd: restart when the process exits with an error or crashes.
			"Restart": "on-failure",
		},
	}
	if goos == "linux" {
		sc.Dependencies = []string{"After=network-online.target", "Wants=network-online.target"}
		sc.Option["SystemdScript"] = SystemdUnit(cfg, exe)
		if cfg.Service.User != RootUser {
			sc.UserName = cfg.Service.User
		}
	}
	return sc
}

// Executable returns the absolute path of the running medsync binary.
func Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find the medsync executable: %w", err)
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	return filepath.Abs(exe)
}

// New returns the OS service for cfg, driven by p (nil for control-only use).
func New(cfg *config.Config, p *Program) (service.Service, error) {
	exe, err := Executable()
	if err != nil {
		return nil, err
	}
	var iface service.Interface = p
	if p == nil {
		iface = &Program{Cfg: cfg}
	}
	s, err := service.New(iface, ServiceConfig(cfg, exe, runtime.GOOS))
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", cfg.Service.Name, err)
	}
	return s, nil
}

// Actions Control accepts.
var Actions = []string{"install", "uninstall", "start", "stop", "restart"}

// Control installs, uninstalls, starts, stops or restarts the service named in cfg.
// It returns notes for the operator (what install set up, what still needs a hand).
func Control(cfg *config.Config, action string) (notes []string, err error) {
	s, err := New(cfg, nil)
	if err != nil {
		return nil, err
	}
	if err := supported(s); err != nil {
		if action == "uninstall" {
			// An older medsync wrote a SysV script here: remove what it left.
			if removed := removeLegacyInit(cfg.Service.Name); len(removed) > 0 {
				return append([]string{"removed the init script an older medsync installed:"}, removed...), nil
			}
		}
		return nil, err
	}
	if action == "install" {
		if notes, err = prepareInstall(cfg); err != nil {
			return notes, fmt.Errorf("install: %w", err)
		}
	}
	if err := service.Control(s, action); err != nil {
		return notes, fmt.Errorf("%s service %q (%s): %w; run as administrator (Windows) or root (Linux)%s",
			action, cfg.Service.Name, s.Platform(), err, stateHint(action))
	}
	return notes, nil
}

// ErrNoServiceManager is returned on a Linux whose init is not systemd.
var ErrNoServiceManager = errors.New("no supported service manager")

// supported refuses service control where medsync cannot install honestly: on Linux
// only systemd gives the restart-on-failure, the account and the sandbox the unit
// promises (kardianos/service would fall back to a SysV script without them).
func supported(s service.Service) error {
	if runtime.GOOS != "linux" || s.Platform() == "linux-systemd" {
		return nil
	}
	init1, _ := os.ReadFile("/proc/1/comm")
	return fmt.Errorf("%w: this Linux does not run systemd (process 1 is %q), and medsync installs only as a systemd unit; "+
		"run it in the foreground under the supervisor this system uses (runit, supervisord, s6, a container's restart policy): "+
		"medsync -c <config.ini> run — see service/README.md, \"Linux without systemd\"", ErrNoServiceManager, strings.TrimSpace(string(init1)))
}

func stateHint(action string) string {
	switch action {
	case "install":
		return "; if it is already installed, run uninstall first"
	case "start", "stop", "restart", "uninstall":
		return "; check that it is installed (medsync status)"
	}
	return ""
}

// State is the service's state in words: "running", "stopped", "not installed" or
// "unknown".
func State(cfg *config.Config) (string, error) {
	s, err := New(cfg, nil)
	if err != nil {
		return "unknown", err
	}
	if supported(s) != nil {
		return "not available (no systemd here; medsync runs only in the foreground: medsync run)", nil
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed", nil
	case err != nil:
		return "unknown", fmt.Errorf("the service manager (%s) gave no state: %w; run this as administrator (Windows) or root (Linux)", s.Platform(), err)
	case st == service.StatusRunning:
		return "running", nil
	case st == service.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// Program is medsync as a service: Start opens the status port and starts the app in
// the background (never blocking on the MIS), Stop cancels it and waits at most
// StopTimeout. An interactive `medsync run` drives the same Program through Run.
type Program struct {
	Cfg *config.Config
	// Stderr receives a copy of the log in interactive runs.
	Stderr io.Writer
	// Options are passed to app.Open; its Observer is combined with the status
	// collector (tests use it).
	Options app.Options
	// Exit ends the process after a fatal error in service mode, so that the service
	// manager restarts it (default os.Exit). Interactive runs return the error instead.
	Exit func(code int)

	mu        sync.Mutex
	log       *logging.Logger
	cancel    context.CancelFunc
	done      chan struct{}
	failed    chan error
	collector *status.Collector
	app       *app.App
	addr      string
}

// Addr is the status server's address once started.
func (p *Program) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Collector is the status collector of the running program (nil before Start).
func (p *Program) Collector() *status.Collector {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.collector
}

// App is the running app (nil before it opened).
func (p *Program) App() *app.App {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.app
}

// Failed delivers the error that stopped the program on its own (MIS unreachable at
// start-up, status server failure).
func (p *Program) Failed() <-chan error { return p.failed }

// Start implements service.Interface. It returns quickly: only the log and the status
// port are opened here; the MIS is connected to in the background.
func (p *Program) Start(s service.Service) error {
	var sys service.Logger
	interactive := s == nil || service.Interactive()
	if !interactive {
		if l, err := s.Logger(nil); err == nil {
			sys = l
		}
	}
	o := logging.Options{System: sys}
	if interactive {
		o.Stderr = p.Stderr
	}
	log, err := logging.New(p.Cfg, o)
	if err != nil {
		if sys != nil {
			_ = sys.Error(err.Error())
		}
		return err
	}
	ln, err := status.Listen(p.Cfg)
	if err != nil {
		log.Error("medsync cannot start", "error", err)
		log.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	col := status.NewCollector()
	col.OnProgress(status.ProgressLog(log.Logger, 30*time.Second))
	p.mu.Lock()
	p.log, p.cancel, p.collector, p.addr = log, cancel, col, ln.Addr().String()
	p.done, p.failed = make(chan struct{}), make(chan error, 1)
	p.mu.Unlock()
	log.System("medsync service starting", "config", p.Cfg.File, "log", log.Path(), "status", "http://"+ln.Addr().String()+"/")
	go p.run(ctx, ln, col, interactive)
	return nil
}

func (p *Program) run(ctx context.Context, ln net.Listener, col *status.Collector, interactive bool) {
	defer close(p.done)
	opt := p.Options
	if opt.Observer != nil {
		opt.Observer = multiObserver{opt.Observer, col}
	} else {
		opt.Observer = col
	}
	a, err := app.Open(ctx, p.Cfg, p.log.Logger, opt)
	if err != nil {
		ln.Close()
		p.fatal(err, interactive)
		return
	}
	defer a.Close()
	var names []string
	for _, t := range a.Targets {
		names = append(names, t.Name)
	}
	col.Attach(a.Store, names)
	if a.LinkCodes != nil {
		col.AttachLinkCodes(a.LinkCodes.CodeStates)
	}
	for _, t := range a.Targets {
		if m, ok := t.Conn.(prometheus.Collector); ok { // a serving connector's request metrics
			if err := col.Registry().Register(m); err != nil {
				p.log.Warn("connector metrics not on /metrics", "connector", t.Name, "error", err)
			}
		}
	}
	p.mu.Lock()
	p.app = a
	p.mu.Unlock()
	src := status.Source{Cfg: p.Cfg, Store: a.Store, LastError: a.Engine.LastError, Daemon: true, UnmappedCodes: a.Source.UnmappedCodes,
		Listeners: a.Engine.Listeners}
	if a.LinkCodes != nil && p.Cfg.Registrar.Enabled {
		src.Mounts = map[string]http.Handler{linkcodes.Prefix: a.LinkCodes.Handler()}
		if p.Cfg.Registrar.TLS() {
			src.CertFile, src.KeyFile = p.Cfg.Registrar.TLSCert, p.Cfg.Registrar.TLSKey
		}
	} else {
		src.Mounts = map[string]http.Handler{linkcodes.Prefix: linkcodes.OffHandler(p.Cfg)}
	}
	srv := status.NewServer(src, col, p.log.Logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	runDone := make(chan struct{})
	go func() {
		a.Run(ctx)
		close(runDone)
	}()
	select {
	case <-runDone:
	case err := <-served:
		if err != nil {
			p.cancel()
			<-runDone
			p.fatal(fmt.Errorf("%s: [service] status_listen: status server stopped: %w", p.Cfg.File, err), interactive)
			return
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	col.Wait()
}

// fatal reports an error that stops the program.
func (p *Program) fatal(err error, interactive bool) {
	p.log.Error("medsync cannot run", "error", err)
	p.failed <- err
	if !interactive {
		p.log.Close()
		exit := p.Exit
		if exit == nil {
			exit = os.Exit
		}
		exit(1)
	}
}

// Stop implements service.Interface: it cancels the app and waits at most StopTimeout.
func (p *Program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done, log := p.cancel, p.done, p.log
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		log.System("medsync service stopped")
	case <-time.After(StopTimeout):
		log.System("medsync service stopped without waiting for the current poll; its changes stay safely uncommitted or queued", "waited", StopTimeout.String())
	}
	return log.Close()
}

// Run runs medsync: under the service manager it hands over to it; in a console it
// starts the Program, waits for ctx (Ctrl+C, SIGTERM) or a fatal error, and stops it.
func Run(ctx context.Context, p *Program) error {
	if !service.Interactive() {
		s, err := New(p.Cfg, p)
		if err != nil {
			return err
		}
		return s.Run()
	}
	if err := p.Start(nil); err != nil {
		return err
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-p.failed:
	}
	if serr := p.Stop(nil); err == nil {
		err = serr
	}
	return err
}
