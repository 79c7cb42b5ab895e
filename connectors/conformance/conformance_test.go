package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"medsync/connectors"
)

// peer records what a fake peer received.
type peer struct {
	mu  sync.Mutex
	got []Received
}

func (p *peer) add(r Received) { p.mu.Lock(); p.got = append(p.got, r); p.mu.Unlock() }
func (p *peer) list(*testing.T) []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Received(nil), p.got...)
}

// memConn is an in-memory connector; broken selects a contract violation.
type memConn struct {
	p      *peer
	broken string
}

func (c *memConn) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	for i, ev := range batch {
		if ctx.Err() != nil && c.broken != "ignores-context" {
			if c.broken == "permanent-on-cancel" {
				errs[i] = connectors.Permanent("cancelled", ctx.Err())
			} else {
				errs[i] = connectors.Transient(ctx.Err(), 0)
			}
			continue
		}
		if ev.Op == connectors.OpUpsert && !json.Valid(ev.Data) {
			if c.broken != "accepts-bad-json" {
				errs[i] = connectors.Permanent(ev.Entity+" "+ev.Key+": data is not JSON", nil)
				continue
			}
		}
		r := Received{Entity: ev.Entity, Op: ev.Op, Key: ev.Key, IdempotencyKey: ev.IdempotencyKey}
		switch c.broken {
		case "new-key-on-resend":
			if ev.Attempt > 1 {
				r.IdempotencyKey += "-2"
			}
		case "drops-deletes":
			if ev.Op == connectors.OpDelete {
				continue
			}
		case "refuses-duplicates":
			if ev.Attempt > 1 {
				errs[i] = connectors.Permanent("duplicate", nil)
				continue
			}
		}
		c.p.add(r)
	}
	if c.broken == "short-results" && len(errs) > 0 {
		return errs[:len(errs)-1]
	}
	return errs
}

func (c *memConn) Close() error { return nil }

func memHarness(broken string) Harness {
	return Harness{New: func(t *testing.T) *Instance {
		p := &peer{}
		return &Instance{Connector: &memConn{p: p, broken: broken}, Received: p.list}
	}}
}

func TestMemory(t *testing.T) { Run(t, memHarness("")) }

// httpConn posts each event to a peer, the way HTTP connectors do.
type httpConn struct {
	url    string
	client *http.Client
}

func (c *httpConn) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	for i, ev := range batch {
		if ev.Op == connectors.OpUpsert && !json.Valid(ev.Data) {
			errs[i] = connectors.Permanent(fmt.Sprintf("%s %s: data is not JSON", ev.Entity, ev.Key), nil)
			continue
		}
		body, _ := json.Marshal(map[string]any{"op": ev.Op, "record": ev.Data})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/"+ev.Entity+"/"+ev.Key, bytes.NewReader(body))
		if err != nil {
			errs[i] = connectors.Permanent("bad request", err)
			continue
		}
		req.Header.Set("Idempotency-Key", ev.IdempotencyKey)
		resp, err := c.client.Do(req)
		if err != nil {
			errs[i] = connectors.Transient(err, 0)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			errs[i] = connectors.Transient(errors.New(resp.Status), 0)
		}
	}
	return errs
}

func (c *httpConn) Close() error { c.client.CloseIdleConnections(); return nil }

func TestHTTP(t *testing.T) {
	Run(t, Harness{New: func(t *testing.T) *Instance {
		p := &peer{}
		var (
			mu    sync.Mutex
			stall chan struct{}
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			s := stall
			mu.Unlock()
			if s != nil {
				select {
				case <-s:
				case <-r.Context().Done():
					return
				}
			}
			var body struct {
				Op string `json:"op"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
			p.add(Received{Entity: parts[0], Op: body.Op, Key: parts[1], IdempotencyKey: r.Header.Get("Idempotency-Key")})
		}))
		t.Cleanup(srv.Close)
		return &Instance{
			Connector: &httpConn{url: srv.URL, client: srv.Client()},
			Received:  p.list,
			Stall: func(t *testing.T) func() {
				ch := make(chan struct{})
				mu.Lock()
				stall = ch
				mu.Unlock()
				var once sync.Once
				return func() { once.Do(func() { close(ch) }) }
			},
		}
	}})
}

// TestBrokenConnectorsFail checks that the suite catches contract violations: each
// broken connector runs the suite in a child process, which must fail with the message.
func TestBrokenConnectorsFail(t *testing.T) {
	if mode := os.Getenv("CONFORMANCE_BROKEN"); mode != "" {
		Run(t, memHarness(mode))
		return
	}
	tests := []struct{ mode, want string }{
		{"short-results", "it must return one per event"},
		{"new-key-on-resend", "that was never sent"},
		{"drops-deletes", "peer did not receive {Entity:branch Op:delete"},
		{"refuses-duplicates", "a resend after a crash must be accepted"},
		{"accepts-bad-json", "want a permanent error"},
		{"permanent-on-cancel", "a cancelled context gave a permanent error"},
		{"ignores-context", ""}, // acknowledges and delivers after cancel: allowed
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenConnectorsFail$", "-test.v")
			cmd.Env = append(os.Environ(), "CONFORMANCE_BROKEN="+tt.mode)
			out, err := cmd.CombinedOutput()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("suite failed a connector that keeps the contract:\n%s", out)
				}
				return
			}
			if err == nil {
				t.Fatalf("suite passed a %s connector:\n%s", tt.mode, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("suite output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
