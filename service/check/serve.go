package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"medsync/connectors"
	"medsync/service/config"
	"medsync/service/store"
)

// serving shows the listeners of a connector that serves requests, and runs its
// checks of the synced state (connectors.StateChecker).
func (c *checker) serving(ctx context.Context, cfg *config.Config, name string, conn connectors.Connector) {
	if s, ok := conn.(connectors.Server); ok {
		for _, l := range s.Listening() {
			sec := "plain HTTP"
			if l.TLS {
				sec = "HTTPS"
			}
			c.pass(name+": "+l.Name, fmt.Sprintf("%s (%s, %s)", l.URL, sec, l.Auth))
		}
	}
	sc, ok := conn.(connectors.StateChecker)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	st, err := store.OpenReadOnly(ctx, cfg.Service.StateDir) // it only reads; the service may hold the store
	if errors.Is(err, store.ErrNoStore) {
		c.pass(name+": synced state", "none yet: run medsync once to see what the connector will offer")
		return
	}
	if err != nil {
		c.fail(name+": synced state", err, fmt.Sprintf("check [service] state_dir in %s", cfg.File))
		return
	}
	defer st.Close()
	for _, k := range sc.CheckState(ctx, &stateHost{st: st, log: c.o.Logger, dir: cfg.Service.StateDir}) {
		n := name + ": " + k.Name
		switch {
		case k.Err != nil && k.Warn:
			c.add(Result{OK: true, Warning: true, Name: n, Detail: k.Err.Error(), Hint: k.Hint})
		case k.Err != nil:
			c.fail(n, k.Err, k.Hint)
		default:
			c.pass(n, "")
		}
	}
}

// stateHost is the Host of a state check: records from the state store, no MIS.
type stateHost struct {
	st  *store.Store
	log *slog.Logger
	dir string
}

func (h *stateHost) Logger() *slog.Logger      { return h.log }
func (h *stateHost) StateDir() string          { return h.dir }
func (h *stateHost) MIS() connectors.MISWriter { return nil }
func (h *stateHost) Records(ctx context.Context, entity string, fn func(string, json.RawMessage) error) error {
	return h.st.Records(ctx, entity, fn)
}

// Refresh does nothing: a check writes nothing to the MIS.
func (h *stateHost) Refresh(context.Context, connectors.RefreshRequest) error { return nil }
