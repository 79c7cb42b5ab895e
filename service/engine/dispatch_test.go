package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

// httpConn sends each event as one POST, like a real connector: a 429/503 becomes a
// transient error carrying the peer's Retry-After, and the rest of the batch waits
// with it (per-record order).
type httpConn struct{ url string }

func (c *httpConn) Deliver(ctx context.Context, batch []connectors.Event) []error {
	errs := make([]error, len(batch))
	var stop error
	for i, ev := range batch {
		if stop != nil {
			errs[i] = stop
			continue
		}
		body, _ := json.Marshal(ev)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errs[i], stop = connectors.Transient(err, 0), connectors.Transient(err, 0)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == 429 || resp.StatusCode == 503 {
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			stop = connectors.Transient(fmt.Errorf("peer: HTTP %d", resp.StatusCode), time.Duration(secs)*time.Second)
			errs[i] = stop
		}
	}
	return errs
}
func (c *httpConn) Close() error { return nil }

// strictPeer answers 429 with Retry-After until the clock passes the time it named,
// and fails the test for every request that arrives before then.
type strictPeer struct {
	t     *testing.T
	now   func() time.Time
	mu    sync.Mutex
	busy  bool // answer 429 (a rate limit phase)
	until time.Time
	calls int
	early int // requests during the pause the peer asked for
	got   map[string]bool
}

func (p *strictPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if now := p.now(); now.Before(p.until) {
		p.early++
		p.t.Errorf("request at %s, during the pause the peer asked for (until %s)", now.Format(time.TimeOnly), p.until.Format(time.TimeOnly))
	}
	if p.busy {
		p.until = p.now().Add(30 * time.Second)
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	var ev connectors.Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		p.t.Errorf("peer: bad body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	p.got[ev.Key] = true
}

func (p *strictPeer) counts() (calls, early, got int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.early, len(p.got)
}

// TestRetryAfterPausesTheWholeQueue: one 429 with Retry-After stops every request of
// that connector until the time given — other queued events, events added by later
// polls and new batches included — and the pause is recorded for the status page.
func TestRetryAfterPausesTheWholeQueue(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	peer := &strictPeer{t: t, now: func() time.Time { return f.now }, busy: true, got: map[string]bool{}}
	srv := httptest.NewServer(peer)
	defer srv.Close()
	f.eng.o.Targets[0].Conn = &httpConn{url: srv.URL}
	for i := 1; i <= 20; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()

	r := f.deliver()
	if calls, _, _ := peer.counts(); calls != 1 {
		t.Fatalf("%d requests in the round that got a 429, want 1 (the queue pauses at once)", calls)
	}
	want := f.now.Add(30 * time.Second)
	if !r.PausedUntil.Equal(want) || r.Retrying == 0 {
		t.Fatalf("result %+v, want paused until %s", r, want)
	}
	p, err := f.st.GetPause(context.Background(), "rec")
	if err != nil || !p.Until.Equal(want) || p.Reason == "" {
		t.Fatalf("recorded pause %+v %v", p, err)
	}

	// 10 s later a poll adds events: still nothing goes out.
	f.now = f.now.Add(10 * time.Second)
	for i := 21; i <= 25; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()
	for range 3 {
		if r := f.deliver(); r.Delivered+r.Retrying+r.DeadLettered != 0 || !r.PausedUntil.Equal(want) {
			t.Fatalf("delivered during the pause: %+v", r)
		}
	}
	if calls, early, _ := peer.counts(); calls != 1 || early != 0 {
		t.Fatalf("%d requests, %d of them during the pause", calls, early)
	}

	// The pause is over and the peer is fine again: everything goes out.
	peer.mu.Lock()
	peer.busy = false
	peer.mu.Unlock()
	f.now = want.Add(time.Second)
	if r := f.deliver(); r.Delivered != 25 || !r.PausedUntil.IsZero() {
		t.Fatalf("after the pause: %+v", r)
	}
	if _, early, got := peer.counts(); got != 25 || early != 0 {
		t.Fatalf("peer got %d records, %d requests during the pause", got, early)
	}
}

// TestRetryAfterIsCapped: a Retry-After of a day pauses at most max(1 h, backoff max).
func TestRetryAfterIsCapped(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.mem.put(doctor("1", "Врач"), "")
	f.poll()
	f.rec.failFn = func(connectors.Event) error {
		return connectors.Transient(fmt.Errorf("peer: HTTP 503"), 24*time.Hour)
	}
	r := f.deliver()
	if want := f.now.Add(time.Hour); !r.PausedUntil.Equal(want) {
		t.Fatalf("paused until %s, want %s", r.PausedUntil, want)
	}
}
