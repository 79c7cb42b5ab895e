package ondoc

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/mapping"
)

func TestErrorClassification(t *testing.T) {
	doctor := upsert(&mapping.Doctor{ID: "7", BranchID: "1", SpecialtyID: "2", LastName: "Петров", FirstName: "Олег", OnlineBooking: true}, 1)
	slot := upsert(&mapping.Slot{ID: "s1", DoctorID: "7", BranchID: "1", Start: fixedNow, End: fixedNow.Add(20 * time.Minute), Free: true}, 1)
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		name      string
		setup     func(f *fakeONDOC)
		opts      map[string]string
		ev        connectors.Event
		permanent bool
		retry     func(d time.Duration) bool
		msg       []string
	}{
		{"company key refused", func(f *fakeONDOC) { f.company = "other" }, nil, doctor, true, nil,
			[]string{"company key", "token_company", "«Интеграция и реферальный код»"}},
		{"branch key refused", func(f *fakeONDOC) { f.branch = "other" }, nil, slot, true, nil,
			[]string{"branch key", "token_branch", "«Интеграция и реферальный код»"}},
		{"403", func(f *fakeONDOC) { f.failNext(1, 403, "") }, nil, slot, true, nil, []string{"branch key"}},
		{"429 seconds", func(f *fakeONDOC) { f.failNext(1, 429, "7") }, nil, slot, false,
			func(d time.Duration) bool { return d == 7*time.Second }, nil},
		{"503 http date", func(f *fakeONDOC) { f.failNext(1, 503, httpDate) }, nil, slot, false,
			func(d time.Duration) bool { return d > 60*time.Second && d <= 91*time.Second }, nil},
		{"500", func(f *fakeONDOC) { f.failNext(1, 500, "") }, nil, slot, false, func(d time.Duration) bool { return d == 0 }, nil},
		{"timeout", func(f *fakeONDOC) { f.stall() }, map[string]string{"timeout": "200ms"}, slot, false, nil, nil},
		{"record rejected in answer", func(f *fakeONDOC) { f.reject["7"] = "snils" }, nil, doctor, true, nil, []string{"doctor 7", `"snils"`}},
		{"record refused 422", func(f *fakeONDOC) { f.bad400["7"] = "specialty_mis_id" }, nil, doctor, true, nil, []string{"doctor 7", "specialty_mis_id", "422"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			tc.setup(f)
			c := newConn(t, f, tc.opts)
			errs := c.Deliver(context.Background(), []connectors.Event{tc.ev})
			err := errs[0]
			if err == nil {
				t.Fatal("no error")
			}
			if connectors.IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent=%v, want %v: %v", connectors.IsPermanent(err), tc.permanent, err)
			}
			if tc.retry != nil && !tc.retry(connectors.RetryAfter(err)) {
				t.Errorf("RetryAfter %s", connectors.RetryAfter(err))
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if strings.Contains(err.Error(), testBranchKey) || strings.Contains(err.Error(), testCompanyKey) {
				t.Errorf("error shows a key: %v", err)
			}
			// The dead-letter reason names the record and the field once, not once per
			// wrapping layer.
			if tc.permanent {
				reason := connectors.Reason(err)
				for _, m := range tc.msg {
					if !strings.Contains(reason, m) {
						t.Errorf("dead-letter reason %q does not mention %q", reason, m)
					}
				}
				if strings.Contains(tc.name, "record") && strings.Count(reason, "ONDOC") > 1 {
					t.Errorf("dead-letter reason repeats itself: %q", reason)
				}
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := newForTest(t.TempDir(), map[string]string{"server": "http://" + addr, "token_company": "a", "token_branch": "b", "timeout": "2s", "rate_limit": "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errs := c.Deliver(context.Background(), []connectors.Event{upsert(&mapping.Specialty{ID: "2", Name: "Терапевт"}, 1)})
	if errs[0] == nil || connectors.IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), "not reachable") {
		t.Fatalf("connection refused: %v, want a transient 'not reachable'", errs[0])
	}
	checks := c.Check(context.Background())
	if len(checks) != 1 || checks[0].Err == nil || checks[0].Hint == "" {
		t.Fatalf("check with the server down: %+v", checks)
	}
}

// One bad record in a batch does not block the others: the batch is split.
func TestBadRecordInBatch(t *testing.T) {
	f := newFake(t)
	f.bad400["8"] = "snils"
	c := newConn(t, f, nil)
	var batch []connectors.Event
	for _, id := range []string{"7", "8", "9"} {
		batch = append(batch, upsert(&mapping.Doctor{ID: id, BranchID: "1", SpecialtyID: "2", LastName: "Петров", FirstName: "Олег", OnlineBooking: true}, 1))
	}
	errs := c.Deliver(context.Background(), batch)
	if errs[0] != nil || errs[2] != nil || !connectors.IsPermanent(errs[1]) || !strings.Contains(errs[1].Error(), "doctor 8") {
		t.Fatalf("errs %v", errs)
	}
	if got := accepted[wireDoctor](f, "/company/doctors"); len(got) != 2 {
		t.Errorf("accepted %d doctors, want 2", len(got))
	}
}

// An outage (503 for a while) fails the rest of the batch transiently and, once the
// server is back, the events arrive in their original order.
func TestOutageKeepsOrder(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, map[string]string{"link_required": "false"})
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	batch := []connectors.Event{
		upsert(appt("920", "5", start, mapping.StatusBooked, ""), 1),
		upsert(&mapping.Doctor{ID: "7", BranchID: "1", SpecialtyID: "2", LastName: "Петров", FirstName: "Олег", OnlineBooking: true}, 1),
		upsert(appt("920", "5", start, mapping.StatusCancelled, "Болезнь врача"), 2),
	}
	f.failNext(3, 503, "2")
	for attempt := 1; ; attempt++ {
		errs := c.Deliver(context.Background(), batch)
		var pending []connectors.Event
		for i, err := range errs {
			if err != nil {
				if connectors.IsPermanent(err) {
					t.Fatalf("outage gave a permanent error: %v", err)
				}
				pending = append(pending, batch[i])
			}
		}
		if len(pending) > 0 && len(pending) != len(batch) && pending[0].Key != batch[len(batch)-len(pending)].Key {
			t.Fatalf("a later event succeeded before an earlier one: pending %v", pending)
		}
		batch = pending
		if len(batch) == 0 {
			break
		}
		if attempt > 5 {
			t.Fatal("never recovered")
		}
	}
	v := accepted[wireVisit](f, "/branch/visits")
	if len(v) != 2 || v[0].Status != visitBooked || v[1].Status != visitCancelled {
		t.Fatalf("visits after recovery: %+v", v)
	}
}

func TestCheck(t *testing.T) {
	f := newFake(t)
	c := newConn(t, f, nil)
	for _, ch := range c.Check(context.Background()) {
		if ch.Err != nil {
			t.Errorf("%s: %v", ch.Name, ch.Err)
		}
	}
	f.branch = "rotated"
	var failed []string
	for _, ch := range c.Check(context.Background()) {
		if ch.Err != nil {
			failed = append(failed, ch.Name)
			if !strings.Contains(ch.Hint, "«Интеграция и реферальный код»") {
				t.Errorf("hint %q", ch.Hint)
			}
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "branch key") {
		t.Errorf("failed checks %v, want only the branch key", failed)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"120":                           120 * time.Second,
		"-5":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 12:01:00 GMT": time.Minute,
		"Thu, 01 Jan 2026 11:00:00 GMT": 0,
	}
	for in, want := range cases {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}
