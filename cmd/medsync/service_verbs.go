package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"medsync/service/check"
	"medsync/service/config"
	"medsync/service/daemon"
	"medsync/service/logging"
	"medsync/service/status"
	"medsync/service/store"
)

func init() {
	for _, action := range daemon.Actions {
		verbs[action] = func(_ context.Context, c *cli, _ []string) error { return c.control(action) }
	}
	verbs["status"] = func(ctx context.Context, c *cli, _ []string) error { return c.status(ctx) }
	verbs["check"] = func(ctx context.Context, c *cli, args []string) error { return c.check(ctx, args) }
}

var actionDone = map[string]string{
	"install": "installed", "uninstall": "uninstalled", "start": "started", "stop": "stopped", "restart": "restarted",
}

// control installs, uninstalls, starts, stops or restarts the OS service.
func (c *cli) control(action string) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	notes, err := daemon.Control(cfg, action)
	for _, n := range notes {
		fmt.Fprintln(c.stdout, n)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "service %q %s\n", cfg.Service.Name, actionDone[action])
	if action == "install" {
		exe, _ := daemon.Executable()
		fmt.Fprintf(c.stdout, "  runs: %s -c %s run\n  %s\n", exe, cfg.File, daemon.InstallSummary(cfg, runtime.GOOS))
	}
	if action == "start" || action == "restart" {
		// Give the service a moment to fail on a broken set-up before reporting.
		time.Sleep(2 * time.Second)
	}
	state, err := daemon.State(cfg)
	if err != nil {
		return fmt.Errorf("service %q: cannot read its state: %w", cfg.Service.Name, err)
	}
	fmt.Fprintf(c.stdout, "service state: %s\n", state)
	if (action == "start" || action == "restart") && state != "running" {
		return &exitError{code: 1, err: fmt.Errorf("service %q is %s after %s; see the log in %s and run medsync check", cfg.Service.Name, state, action, cfg.Service.LogDir)}
	}
	return nil
}

// status prints the running daemon's /status.json, or the same facts from the state
// store when the daemon does not answer.
func (c *cli) status(ctx context.Context) error {
	cfg, err := c.load()
	if err != nil {
		return err
	}
	state, serr := daemon.State(cfg)
	if serr != nil {
		state = "unknown (" + serr.Error() + ")"
	}
	f, err := fetchStatus(ctx, cfg)
	if err != nil {
		st, oerr := store.OpenReadOnly(ctx, cfg.Service.StateDir)
		if errors.Is(oerr, store.ErrNoStore) {
			st, oerr = store.Open(ctx, cfg.Service.StateDir) // nothing ran yet: an empty store says so
		}
		if oerr != nil {
			return oerr
		}
		defer st.Close()
		if f, err = status.Gather(ctx, status.Source{Cfg: cfg, Store: st}); err != nil {
			return err
		}
	}
	f.Redact(logging.NewRedactor(config.Secrets(cfg))) // also what an older daemon served
	fmt.Fprintf(c.stdout, "service state: %s\n", state)
	if err := status.WriteText(c.stdout, f); err != nil {
		return err
	}
	if !f.Healthy {
		return &exitError{code: 1, err: errors.New("not healthy: " + f.Reason)}
	}
	return nil
}

func fetchStatus(ctx context.Context, cfg *config.Config) (*status.Facts, error) {
	host, port, err := net.SplitHostPort(cfg.Service.StatusListen)
	if err != nil {
		return nil, err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/status.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status server: %s", resp.Status)
	}
	var f status.Facts
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return nil, err
	}
	if f.Config != cfg.File {
		return nil, fmt.Errorf("the status server on %s belongs to another config (%s)", cfg.Service.StatusListen, f.Config)
	}
	return &f, nil
}

// check runs `medsync check [--all]`: exit code 0 only when every check passed.
// --all reads every row of every read statement and counts skipped rows per problem.
func (c *cli) check(ctx context.Context, args []string) error {
	var opt check.Options
	for _, a := range args {
		switch a {
		case "--all", "-all":
			opt.All = true
		default:
			return &exitError{code: 2, err: fmt.Errorf("usage: medsync check [--all]")}
		}
	}
	rep := check.Run(ctx, c.cfgPath, c.stdout, opt)
	if failed := rep.Failed(); len(failed) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("check: %d of %d checks failed", len(failed), len(rep.Results))}
	}
	return nil
}
