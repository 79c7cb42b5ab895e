package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"medsync/connectors"
)

// ServeRetry is the pause before a connector's Serve is called again after it failed
// (its port was taken, its listener broke).
var ServeRetry = 10 * time.Second

// Listening is one listener of a serving connector, as `medsync check` and the status
// page show it.
type Listening struct {
	Connector string `json:"connector"`
	connectors.Listener
	// Error is the last error Serve returned (empty while it serves).
	Error string `json:"error,omitempty"`
}

type serveState struct {
	mu  sync.Mutex
	err string
}

// Serve runs every target that is a connectors.Server until ctx is done: each Serve is
// called once in its own goroutine with the host's services, and again after
// ServeRetry when it returns an error. Serve returns when every server has stopped.
func (e *Engine) Serve(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range e.o.Targets {
		s, ok := t.Conn.(connectors.Server)
		if !ok {
			continue
		}
		st := &serveState{}
		e.serving.Store(t.Name, st)
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			e.serveLoop(ctx, name, s, st)
		}(t.Name)
	}
	wg.Wait()
}

func (e *Engine) serveLoop(ctx context.Context, name string, s connectors.Server, st *serveState) {
	for ctx.Err() == nil {
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("connector panicked: %v", p)
				}
			}()
			return s.Serve(ctx, e.host(name))
		}()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("stopped serving without an error")
		}
		st.mu.Lock()
		st.err = err.Error()
		st.mu.Unlock()
		e.log.Error("connector stopped serving; trying again", "connector", name, "error", err, "retry_in", ServeRetry.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(ServeRetry):
		}
		st.mu.Lock()
		st.err = ""
		st.mu.Unlock()
	}
}

// Listeners describes the listeners of every serving target.
func (e *Engine) Listeners() []Listening {
	var out []Listening
	for _, t := range e.o.Targets {
		s, ok := t.Conn.(connectors.Server)
		if !ok {
			continue
		}
		errText := ""
		if v, ok := e.serving.Load(t.Name); ok {
			st := v.(*serveState)
			st.mu.Lock()
			errText = st.err
			st.mu.Unlock()
		}
		for _, l := range s.Listening() {
			if errText != "" {
				l.Healthy = false
			}
			out = append(out, Listening{Connector: t.Name, Listener: l, Error: errText})
		}
	}
	return out
}

// namedReader is a MIS reader that runs the profile's named read statements
// (mapping.Source does).
type namedReader interface {
	HasStatement(name string) bool
	QueryNamed(ctx context.Context, name string, params map[string]any, fn func(row map[string]string) error) error
}

var _ connectors.MISReader = (*host)(nil)

// QueryMIS runs a profile's named read statement for a connector (connectors.MISReader).
func (h *host) QueryMIS(ctx context.Context, name string, params map[string]any, fn func(row map[string]string) error) error {
	r, ok := h.e.o.Reader.(namedReader)
	if !ok {
		return fmt.Errorf("the MIS reader cannot run named statements")
	}
	if !r.HasStatement(name) {
		return fmt.Errorf("the MIS profile declares no %s statement", name)
	}
	return r.QueryNamed(ctx, name, params, fn)
}
