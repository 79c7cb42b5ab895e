package ondoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testCompanyKey = "company-secret-1"
	testBranchKey  = "branch-secret-2"
)

// got is one request the fake accepted (or refused, with Status set).
type got struct {
	Path   string
	Idem   string
	Status int
	Items  []json.RawMessage // batch endpoints
	Body   json.RawMessage   // single endpoints
}

// fakeONDOC implements the contract of contract.go strictly: unknown JSON fields are
// refused (400), a wrong or missing key is 401, a POST without an idempotency key 400.
// It can be told to fail the next requests and records everything it accepted.
type fakeONDOC struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []got
	fails  []fail            // consumed one per request
	hang   chan struct{}     // non-nil: every request waits for it to close
	lose   []string          // consumed one per request: "drop" (processed, connection closed without an answer) or "late" (processed, answered after the client gave up)
	reject map[string]string // mis_id → field: batch item rejected in a 200 answer
	bad400 map[string]string // mis_id → field: the whole request answered 422
	// notLinked: patient → "item" (its visits and card rejected in a 200 answer) or
	// "request" (the whole request answered 422), code patient_not_linked.
	notLinked map[string]string
	events    []feedEvent       // the events feed
	answers   []bookingAnswer   // booking answers received
	codes     map[string]string // patient → last link code received
	linkedOn  map[string]bool   // link-code answer: already linked
	seenIdem  map[string]int    // idempotency key → times seen
	unknown   map[string]bool   // patients unknown to unlink (404)
	company   string            // accepted company key
	branch    string            // accepted branch key
	statuses  map[string][]int  // path → statuses answered
	byKind    map[string][]any  // decoded items per path
	itemIdem  map[string][]string
}

type fail struct {
	status     int
	retryAfter string
}

func newFake(t *testing.T) *fakeONDOC {
	f := &fakeONDOC{t: t, reject: map[string]string{}, bad400: map[string]string{}, notLinked: map[string]string{}, codes: map[string]string{},
		linkedOn: map[string]bool{}, seenIdem: map[string]int{}, unknown: map[string]bool{},
		company: testCompanyKey, branch: testBranchKey, statuses: map[string][]int{}, byKind: map[string][]any{},
		itemIdem: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.release()
		f.srv.Close()
	})
	return f
}

// failNext makes the next n requests answer status (with Retry-After when set).
func (f *fakeONDOC) failNext(n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.fails = append(f.fails, fail{status, retryAfter})
	}
}

// loseAnswers makes the next requests be processed (and recorded as accepted) with
// their answers lost: mode "drop" or "late", one per request.
func (f *fakeONDOC) loseAnswers(modes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lose = append(f.lose, modes...)
}

func (f *fakeONDOC) stall() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hang == nil {
		f.hang = make(chan struct{})
	}
}

func (f *fakeONDOC) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
}

func (f *fakeONDOC) addEvents(evs ...feedEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, evs...)
}

func (f *fakeONDOC) requests() []got {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]got(nil), f.reqs...)
}

// accepted returns the items of accepted requests to path, decoded as T.
func accepted[T any](f *fakeONDOC, path string) []T {
	var out []T
	for _, r := range f.requests() {
		if r.Path != path || r.Status != 200 {
			continue
		}
		for _, it := range r.Items {
			var v T
			if err := json.Unmarshal(it, &v); err != nil {
				f.t.Fatalf("fake: %v", err)
			}
			out = append(out, v)
		}
		if r.Items == nil && r.Body != nil {
			var v T
			if err := json.Unmarshal(r.Body, &v); err != nil {
				f.t.Fatalf("fake: %v", err)
			}
			out = append(out, v)
		}
	}
	return out
}

func (f *fakeONDOC) gotAnswers() []bookingAnswer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bookingAnswer(nil), f.answers...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errBody(code, msg, field, misID string) map[string]any {
	e := map[string]any{"code": code, "message": msg}
	if field != "" {
		e["field"] = field
	}
	if misID != "" {
		e["mis_id"] = misID
	}
	return map[string]any{"error": e}
}

// strict decodes b into v refusing unknown fields and trailing data.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

func (f *fakeONDOC) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	rec := got{Path: r.URL.Path, Idem: r.Header.Get("Idempotency-Key")}
	status, resp := f.handle(r, body.Bytes(), &rec)
	rec.Status = status
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	f.statuses[rec.Path] = append(f.statuses[rec.Path], status)
	var lose string
	if len(f.lose) > 0 {
		lose, f.lose = f.lose[0], f.lose[1:]
	}
	f.mu.Unlock()
	switch lose {
	case "drop": // like ONDOC killed while it answers
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	case "late": // the answer comes after the client's timeout
		<-r.Context().Done()
		return
	}
	if ra, ok := resp.(fail); ok {
		if ra.retryAfter != "" {
			w.Header().Set("Retry-After", ra.retryAfter)
		}
		writeJSON(w, status, errBody("unavailable", "try later", "", ""))
		return
	}
	writeJSON(w, status, resp)
}

func (f *fakeONDOC) handle(r *http.Request, body []byte, rec *got) (int, any) {
	f.mu.Lock()
	if len(f.fails) > 0 {
		fl := f.fails[0]
		f.fails = f.fails[1:]
		f.mu.Unlock()
		return fl.status, fl
	}
	f.mu.Unlock()

	path := r.URL.Path
	want := f.branch
	switch {
	case strings.HasPrefix(path, "/company/"):
		want = f.company
	case strings.HasPrefix(path, "/branch/"):
	default:
		return 404, errBody("not_found", "no such path "+path, "", "")
	}
	if r.Header.Get("Authorization") != "Bearer "+want {
		return 401, errBody("unauthorized", "invalid access token", "", "")
	}
	if r.Method == http.MethodGet {
		switch path {
		case "/company/ping", "/branch/ping":
			return 200, map[string]any{"ok": true}
		case "/branch/events":
			return f.feed(r)
		}
		return 405, errBody("method", "GET not allowed on "+path, "", "")
	}
	if r.Method != http.MethodPost {
		return 405, errBody("method", r.Method+" not allowed", "", "")
	}
	if rec.Idem == "" {
		return 400, errBody("idempotency_key_required", "Idempotency-Key header is required", "", "")
	}
	if r.Header.Get("Content-Type") != "application/json" {
		return 415, errBody("content_type", "application/json required", "", "")
	}
	f.mu.Lock()
	f.seenIdem[rec.Idem]++
	f.mu.Unlock()

	batch := func(newItem func() any, misID func(any) string, idem func(any) string) (int, any) {
		var req struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := strict(body, &req); err != nil {
			return 400, errBody("bad_json", err.Error(), "", "")
		}
		if len(req.Items) == 0 || len(req.Items) > maxItems {
			return 400, errBody("bad_batch", "1.."+strconv.Itoa(maxItems)+" items", "items", "")
		}
		var res batchResponse
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, raw := range req.Items {
			v := newItem()
			if err := strict(raw, v); err != nil {
				return 400, errBody("bad_json", err.Error(), "", "")
			}
			id := misID(v)
			if id == "" {
				return 422, errBody("validation", "mis_id is required", "mis_id", "")
			}
			if idem(v) == "" {
				return 422, errBody("validation", "idempotency_key is required", "idempotency_key", id)
			}
			if field, ok := f.bad400[id]; ok {
				return 422, errBody("validation", "value not accepted", field, id)
			}
			if f.notLinked[patientOf(v)] == "request" {
				return 422, errBody(codePatientNotLinked, "patient is not linked", "patient_mis_id", id)
			}
		}
		for _, raw := range req.Items {
			v := newItem()
			_ = strict(raw, v)
			id := misID(v)
			if field, ok := f.reject[id]; ok {
				res.Results = append(res.Results, itemResult{MisID: id, Status: resultRejected, Field: field, Message: "не принято"})
				continue
			}
			if f.notLinked[patientOf(v)] == "item" {
				res.Results = append(res.Results, itemResult{MisID: id, Status: resultRejected, Code: codePatientNotLinked, Field: "patient_mis_id", Message: "patient is not linked"})
				continue
			}
			rec.Items = append(rec.Items, raw)
			f.byKind[path] = append(f.byKind[path], v)
			f.itemIdem[path] = append(f.itemIdem[path], idem(v))
			res.Results = append(res.Results, itemResult{MisID: id, Status: resultOK})
		}
		return 200, res
	}
	switch path {
	case "/company/filials":
		return batch(func() any { return new(wireFilial) }, func(v any) string { return v.(*wireFilial).MisID }, func(v any) string { return v.(*wireFilial).IdempotencyKey })
	case "/company/specialities":
		return batch(func() any { return new(wireSpeciality) }, func(v any) string { return v.(*wireSpeciality).MisID }, func(v any) string { return v.(*wireSpeciality).IdempotencyKey })
	case "/company/doctors":
		return batch(func() any { return new(wireDoctor) }, func(v any) string { return v.(*wireDoctor).MisID }, func(v any) string { return v.(*wireDoctor).IdempotencyKey })
	case "/company/services":
		return batch(func() any { return new(wireService) }, func(v any) string { return v.(*wireService).MisID }, func(v any) string { return v.(*wireService).IdempotencyKey })
	case "/branch/slots":
		return batch(func() any { return new(wireSlot) }, func(v any) string { return v.(*wireSlot).MisID }, func(v any) string { return v.(*wireSlot).IdempotencyKey })
	case "/branch/visits":
		return batch(func() any { return new(wireVisit) }, func(v any) string {
			x := v.(*wireVisit)
			if x.PatientMisID == "" || (x.Status != visitBooked && x.Status != visitCancelled && x.Status != visitCompleted && x.Status != visitNoShow) {
				return ""
			}
			return x.MisID
		}, func(v any) string { return v.(*wireVisit).IdempotencyKey })
	case "/branch/patients":
		return batch(func() any { return new(wirePatient) }, func(v any) string { return v.(*wirePatient).MisID }, func(v any) string { return v.(*wirePatient).IdempotencyKey })
	case "/branch/patients/link-code":
		var req linkCodeRequest
		if err := strict(body, &req); err != nil {
			return 400, errBody("bad_json", err.Error(), "", "")
		}
		if len(req.Code) != 9 || req.PatientMisID == "" {
			return 422, errBody("validation", "code must be 9 digits", "code", req.PatientMisID)
		}
		rec.Body = body
		f.mu.Lock()
		defer f.mu.Unlock()
		f.codes[req.PatientMisID] = req.Code
		return 200, linkCodeResponse{Linked: f.linkedOn[req.PatientMisID]}
	case "/branch/patients/unlink":
		var req unlinkRequest
		if err := strict(body, &req); err != nil {
			return 400, errBody("bad_json", err.Error(), "", "")
		}
		if req.Reason != unlinkCardDeleted && req.Reason != unlinkRevoked {
			return 422, errBody("validation", "unknown reason", "reason", req.PatientMisID)
		}
		rec.Body = body
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.unknown[req.PatientMisID] {
			return 404, errBody("not_found", "patient is not linked", "patient_mis_id", req.PatientMisID)
		}
		return 200, map[string]any{}
	case "/branch/bookings/answer":
		var req bookingAnswer
		if err := strict(body, &req); err != nil {
			return 400, errBody("bad_json", err.Error(), "", "")
		}
		if req.Result != answerConfirmed && req.Result != answerRejected {
			return 422, errBody("validation", "result must be confirmed or rejected", "result", "")
		}
		if req.Result == answerRejected && reasonText[req.ReasonCode] == "" {
			return 422, errBody("validation", "unknown reason_code", "reason_code", "")
		}
		rec.Body = body
		f.mu.Lock()
		defer f.mu.Unlock()
		f.answers = append(f.answers, req)
		return 200, map[string]any{}
	}
	return 404, errBody("not_found", "no such path "+path, "", "")
}

func (f *fakeONDOC) feed(r *http.Request) (int, any) {
	after := 0
	if a := r.URL.Query().Get(qAfter); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil {
			return 400, errBody("bad_cursor", "bad cursor", qAfter, "")
		}
		after = n
	}
	limit, err := strconv.Atoi(r.URL.Query().Get(qLimit))
	if err != nil || limit < 1 {
		return 400, errBody("bad_limit", "limit required", qLimit, "")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	end := min(after+limit, len(f.events))
	if after > end {
		after = end
	}
	return 200, eventsResponse{Events: append([]feedEvent{}, f.events[after:end]...), Next: strconv.Itoa(end), More: end < len(f.events)}
}

// newConn builds a connector against the fake with extra option values.
func newConn(t *testing.T, f *fakeONDOC, extra map[string]string) *Conn {
	t.Helper()
	m := map[string]string{
		"server": f.srv.URL, "token_company": testCompanyKey, "token_branch": testBranchKey,
		"timeout": "2s", "rate_limit": "0", "link_required": "true", "auth_header": defaultAuthHeader,
		"auth_scheme": defaultAuthScheme, "idempotency_header": defaultIdempotencyHeader,
	}
	for k, v := range extra {
		m[k] = v
	}
	conn, err := newForTest(t.TempDir(), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func newForTest(dir string, m map[string]string) (*Conn, error) {
	c, err := New(envFor(dir), valuesFor(m))
	if err != nil {
		return nil, err
	}
	return c.(*Conn), nil
}

var fixedNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// patientOf names the patient of a visit or a patient card ("" for other items).
func patientOf(v any) string {
	switch x := v.(type) {
	case *wireVisit:
		return x.PatientMisID
	case *wirePatient:
		return x.MisID
	}
	return ""
}
