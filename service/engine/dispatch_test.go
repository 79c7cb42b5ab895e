package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
	"medsync/service/logging"
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
	wait  int  // seconds of Retry-After; 0: 30
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
		wait := p.wait
		if wait == 0 {
			wait = 30
		}
		p.until = p.now().Add(time.Duration(wait) * time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(wait))
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

// TestDeliveryErrorsAreRedactedWhereStored: a peer that echoes the rejected patient
// (name, birth date, phone, e-mail) and the connector's token in its error does not
// get them into the outbox, the dead-letter list or the engine's last error — the
// texts the status page, /status.json, `medsync status` and `dlq list` show.
func TestDeliveryErrorsAreRedactedWhereStored(t *testing.T) {
	const token = "tok-company-5f1e2d3c"
	f := newFixture(t, mapping.EntityPatient)
	f.eng.o.Redactor = logging.NewRedactor([]string{token})
	f.mem.put(&mapping.Patient{ID: "900200", LastName: "Иванова", FirstName: "Мария", BirthDate: "1992-02-03", Phone: "+79161112233", Email: "maria@mail.ru"}, "")
	f.mem.put(&mapping.Patient{ID: "900201", LastName: "Петрова", FirstName: "Анна", BirthDate: "1980-07-01", Phone: "+79035550011"}, "")
	f.poll()
	echo := func(ev connectors.Event) string {
		var p mapping.Patient
		_ = json.Unmarshal(ev.Data, &p)
		return fmt.Sprintf("HTTP 422 (key %s): patient %s %s, born %s, phone %s, e-mail %s already exists",
			token, p.LastName, p.FirstName, p.BirthDate[8:]+"."+p.BirthDate[5:7]+"."+p.BirthDate[:4], strings.TrimPrefix(p.Phone, "+"), p.Email)
	}
	f.rec.failFn = func(ev connectors.Event) error {
		if ev.Key == "900200" {
			return connectors.Permanent("ondoc patient 900200 rejected: "+echo(ev), errors.New(echo(ev)))
		}
		return connectors.Transient(errors.New(echo(ev)), 0)
	}
	f.deliver()
	dl, err := f.st.DeadLetters(context.Background(), "")
	if err != nil || len(dl) != 1 {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	q, err := f.st.Queues(context.Background(), []string{"rec"})
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"dead letter": dl[0].Reason, "outbox": q[0].LastError, "last error": f.eng.LastError("rec")} {
		for _, leak := range []string{token, "Иванова", "Мария", "Петрова", "Анна", "1992", "1980", "9161112233", "9035550011", "maria@mail.ru"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s shows %q: %s", where, leak, text)
			}
		}
		if !strings.Contains(text, "HTTP 422") {
			t.Errorf("%s lost the status code: %s", where, text)
		}
	}
	if !strings.Contains(dl[0].Reason, "ondoc patient 900200 rejected") {
		t.Errorf("dead letter lost the connector's reason: %s", dl[0].Reason)
	}
}

// TestDispatchLoopWaitsOutThePause: the running delivery loop (real clock) sends
// nothing while the peer's Retry-After lasts, polls waking it included, and then
// delivers everything.
func TestDispatchLoopWaitsOutThePause(t *testing.T) {
	f := newFixture(t, mapping.EntityDoctor)
	f.eng.o.Now = time.Now
	peer := &strictPeer{t: t, now: time.Now, busy: true, wait: 1, got: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer.ServeHTTP(w, r)
		peer.mu.Lock()
		peer.busy = false // one 429, then the peer is fine
		peer.mu.Unlock()
	}))
	defer srv.Close()
	f.eng.o.Targets[0].Conn = &httpConn{url: srv.URL}
	for i := 1; i <= 10; i++ {
		f.mem.put(doctor(fmt.Sprint(i), "Врач"), "")
	}
	f.poll()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.eng.Dispatch(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		f.eng.notifyAll() // as polls would
		if _, _, got := peer.counts(); got == 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	calls, early, got := peer.counts()
	if got != 10 || early != 0 || calls != 11 {
		t.Fatalf("peer got %d records in %d requests, %d during the pause", got, calls, early)
	}
}
