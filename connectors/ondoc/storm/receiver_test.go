package storm

// receiver is a strict ONDOC written from the contract in connectors/ondoc/README.md
// (its own wire types, not the connector's: a field the connector renames is an
// unknown field here). It keeps ONDOC's view of the clinic — doctors, slots, visits —
// applies every item idempotency key at most once (a repeat is answered "duplicate"
// and changes nothing) and replays its stored answer to a repeated request key. It can
// answer late (after applying: the lost acknowledgement), 500, or 429 with Retry-After.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	companyKey = "storm-company-key-1"
	branchKey  = "storm-branch-key-2"
)

type rFilial struct {
	MisID          string `json:"mis_id"`
	Name           string `json:"name"`
	Address        string `json:"address"`
	Phone          string `json:"phone"`
	TimeZone       string `json:"timezone"`
	Active         bool   `json:"active"`
	IdempotencyKey string `json:"idempotency_key"`
}

type rSpeciality struct {
	MisID          string `json:"mis_id"`
	Name           string `json:"name"`
	Code           string `json:"code"`
	Active         bool   `json:"active"`
	IdempotencyKey string `json:"idempotency_key"`
}

type rDoctor struct {
	MisID           string `json:"mis_id"`
	FilialMisID     string `json:"filial_mis_id"`
	SpecialityMisID string `json:"speciality_mis_id"`
	LastName        string `json:"last_name"`
	FirstName       string `json:"first_name"`
	MiddleName      string `json:"middle_name"`
	SNILS           string `json:"snils"`
	SlotMinutes     int    `json:"slot_minutes"`
	Active          bool   `json:"active"`
	IdempotencyKey  string `json:"idempotency_key"`
}

type rService struct {
	MisID           string `json:"mis_id"`
	Name            string `json:"name"`
	Code            string `json:"code"`
	SpecialityMisID string `json:"speciality_mis_id"`
	Price           string `json:"price"`
	DurationMinutes int    `json:"duration_minutes"`
	Mode            string `json:"mode"`
	Prepayment      string `json:"prepayment"`
	Active          bool   `json:"active"`
	IdempotencyKey  string `json:"idempotency_key"`
}

type rSlot struct {
	MisID          string `json:"mis_id"`
	DoctorMisID    string `json:"doctor_mis_id"`
	FilialMisID    string `json:"filial_mis_id"`
	Start          string `json:"start"`
	End            string `json:"end"`
	Free           bool   `json:"free"`
	Room           string `json:"room"`
	Deleted        bool   `json:"deleted"`
	IdempotencyKey string `json:"idempotency_key"`
}

type rVisit struct {
	MisID          string   `json:"mis_id"`
	PatientMisID   string   `json:"patient_mis_id"`
	DoctorMisID    string   `json:"doctor_mis_id"`
	FilialMisID    string   `json:"filial_mis_id"`
	Start          string   `json:"start"`
	End            string   `json:"end"`
	Status         string   `json:"status"`
	CancelReason   string   `json:"cancel_reason"`
	Source         string   `json:"source"`
	ServiceMisIDs  []string `json:"service_mis_ids"`
	Room           string   `json:"room"`
	Comment        string   `json:"comment"`
	BookingID      string   `json:"booking_id"`
	IdempotencyKey string   `json:"idempotency_key"`
}

type rPatient struct {
	MisID          string `json:"mis_id"`
	CardNumber     string `json:"card_number"`
	LastName       string `json:"last_name"`
	FirstName      string `json:"first_name"`
	MiddleName     string `json:"middle_name"`
	BirthDate      string `json:"birth_date"`
	Phone          string `json:"phone"`
	Email          string `json:"email"`
	IdempotencyKey string `json:"idempotency_key"`
}

type rUnlink struct {
	PatientMisID string `json:"patient_mis_id"`
	Reason       string `json:"reason"`
}

type rFeedEvent struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Booking      *rBooking `json:"booking,omitempty"`
	PatientMisID string    `json:"patient_mis_id,omitempty"`
}

type rBooking struct {
	BookingID    string `json:"booking_id"`
	PatientMisID string `json:"patient_mis_id"`
	DoctorMisID  string `json:"doctor_mis_id"`
	FilialMisID  string `json:"filial_mis_id"`
	Start        string `json:"start"`
	End          string `json:"end"`
}

type rAnswer struct {
	BookingID  string `json:"booking_id"`
	Result     string `json:"result"`
	MisVisitID string `json:"mis_visit_id"`
	ReasonCode string `json:"reason_code"`
	ReasonText string `json:"reason_text"`
}

// reasonCodes are the reject codes of the contract.
var reasonCodes = map[string]bool{"slot_taken": true, "doctor_not_bookable": true, "patient_not_found": true,
	"invalid_booking": true, "outside_schedule": true, "in_past": true, "out_of_window": true}

// Visit statuses the patient sees.
const (
	stBooked    = "Записан"
	stCancelled = "Отменена"
	stCompleted = "Завершена"
	stNoShow    = "Неявка"
	deletedText = "Запись удалена в МИС"
)

// wireTime is the contract's timestamp: explicit offset, never Z, no fraction.
var wireTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)

// faults says how often a POST is answered badly (per mille).
type faults struct {
	late, err500, err429 int
	lateBy               time.Duration
}

type answer struct {
	status int
	body   []byte
	hash   string // of the request body
}

type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	rng      *rand.Rand
	f        faults
	inflight int               // requests being answered
	posting  int               // of which POSTs (deliveries)
	answers  map[string]answer // request Idempotency-Key → stored answer
	applied  map[string]string // item idempotency_key → path|mis_id it was applied to
	problems []string          // contract violations (the test fails on any)

	filials  map[string]rFilial
	specs    map[string]rSpeciality
	services map[string]rService
	doctors  map[string]rDoctor
	slots    map[string]rSlot
	visits   map[string]rVisit
	patients map[string]rPatient
	linked   map[string]time.Time // patient → when ONDOC linked it (the feed event's time)
	// unlinked are the patients medsync unlinked (a deleted card): a link notice of
	// theirs read after that unlink is the one way medsync may send a visit of a
	// patient ONDOC has as not linked, and it is answered patient_not_linked.
	unlinked map[string]bool
	feed     []rFeedEvent
	bookings map[string]rBooking // made by patients in ONDOC
	booked   map[string]rAnswer  // the clinic's answer to each

	// lateVisits are visits whose answer went out late (the client had given up);
	// visitAt is when each visit was last applied (a kill right after it loses the answer).
	lateVisits map[string]bool
	visitAt    map[string]time.Time
	stats      map[string]int
}

func newReceiver(t testing.TB, seed uint64) *receiver {
	r := &receiver{t: t, rng: rand.New(rand.NewPCG(seed, 99)), answers: map[string]answer{}, applied: map[string]string{},
		filials: map[string]rFilial{}, specs: map[string]rSpeciality{}, services: map[string]rService{},
		doctors: map[string]rDoctor{}, slots: map[string]rSlot{}, visits: map[string]rVisit{}, patients: map[string]rPatient{},
		linked: map[string]time.Time{}, unlinked: map[string]bool{}, bookings: map[string]rBooking{}, booked: map[string]rAnswer{}, lateVisits: map[string]bool{}, visitAt: map[string]time.Time{}, stats: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setFaults(f faults) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f = f
}

// link makes ONDOC attach a patient (a patient.linked event on the feed).
func (r *receiver) link(patient string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.linked[patient]; ok {
		return
	}
	r.linked[patient] = time.Now()
	r.feed = append(r.feed, rFeedEvent{ID: "ev-" + strconv.Itoa(len(r.feed)+1), Type: "patient.linked", PatientMisID: patient})
}

// book makes a linked patient book a free slot at least two hours ahead in ONDOC (a
// booking.created event on the feed); false when there is no such slot or patient.
func (r *receiver) book() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	var patients, free []string
	for p := range r.linked {
		patients = append(patients, p)
	}
	soon := time.Now().Add(2 * time.Hour)
	for id, sl := range r.slots {
		if st, err := time.Parse(time.RFC3339, sl.Start); err == nil && sl.Free && !sl.Deleted && st.After(soon) {
			free = append(free, id)
		}
	}
	if len(patients) == 0 || len(free) == 0 {
		return false
	}
	sort.Strings(patients)
	sort.Strings(free)
	sl := r.slots[free[r.rng.IntN(len(free))]]
	b := rBooking{BookingID: "bk-" + strconv.Itoa(len(r.bookings)+1), PatientMisID: patients[r.rng.IntN(len(patients))],
		DoctorMisID: sl.DoctorMisID, FilialMisID: sl.FilialMisID, Start: sl.Start, End: sl.End}
	r.bookings[b.BookingID] = b
	r.feed = append(r.feed, rFeedEvent{ID: "ev-" + strconv.Itoa(len(r.feed)+1), Type: "booking.created", Booking: &b})
	return true
}

// answerBooking takes the clinic's answer to a booking; a second, different answer to
// the same booking is what a patient would see flip.
func (r *receiver) answerBooking(body []byte) (int, []byte) {
	var a rAnswer
	err := strictJSON(body, &a)
	switch {
	case err != nil:
	case r.bookings[a.BookingID].BookingID == "":
		err = fmt.Errorf("no such booking %q", a.BookingID)
	case a.Result == "confirmed" && (a.MisVisitID == "" || a.ReasonCode != ""):
		err = fmt.Errorf("a confirmation needs mis_visit_id and no reason_code")
	case a.Result == "rejected" && (!reasonCodes[a.ReasonCode] || a.ReasonText == "" || a.MisVisitID != ""):
		err = fmt.Errorf("a rejection needs a known reason_code and its text, no mis_visit_id")
	case a.Result != "confirmed" && a.Result != "rejected":
		err = fmt.Errorf("result %q", a.Result)
	}
	if err != nil {
		r.problem("booking answer %s: %v", body, err)
		return 422, errJSON("validation", err.Error(), "", "")
	}
	if prev, ok := r.booked[a.BookingID]; ok && prev != a {
		r.problem("booking %s answered %+v, earlier %+v", a.BookingID, a, prev)
	}
	r.booked[a.BookingID] = a
	return 200, []byte(`{}`)
}

// delivering reports whether a delivery (a POST) is being answered right now.
func (r *receiver) delivering() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posting > 0
}

func (r *receiver) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func writeAnswer(w http.ResponseWriter, status int, body []byte, retryAfter string) {
	w.Header().Set("Content-Type", "application/json")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func errJSON(code, msg, field, misID string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field, "mis_id": misID}})
	return b
}

func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(req.Body)
	body := buf.Bytes()
	post := 0
	if req.Method == http.MethodPost {
		post = 1
	}
	r.mu.Lock()
	r.inflight++
	r.posting += post
	defer func() {
		r.mu.Lock()
		r.inflight--
		r.posting -= post
		r.mu.Unlock()
	}()
	status, resp, ra, late := r.handle(req, body)
	r.mu.Unlock()
	if late > 0 {
		time.Sleep(late) // applied already; the client has given up by now
	}
	writeAnswer(w, status, resp, ra)
}

// handle answers one request with r.mu held; late > 0 means: answer only after that long.
func (r *receiver) handle(req *http.Request, body []byte) (status int, resp []byte, retryAfter string, late time.Duration) {
	path := req.URL.Path
	key := branchKey
	switch {
	case strings.HasPrefix(path, "/company/"):
		key = companyKey
	case strings.HasPrefix(path, "/branch/"):
	default:
		r.problem("request to unknown path %s", path)
		return 404, errJSON("not_found", "no such path", "", ""), "", 0
	}
	if req.Header.Get("Authorization") != "Bearer "+key {
		r.problem("%s %s: wrong or missing key", req.Method, path)
		return 401, errJSON("unauthorized", "invalid access token", "", ""), "", 0
	}
	if req.Method == http.MethodGet {
		return r.get(req)
	}
	if req.Method != http.MethodPost {
		r.problem("%s %s: method not in the contract", req.Method, path)
		return 405, errJSON("method", "not allowed", "", ""), "", 0
	}
	idem := req.Header.Get("Idempotency-Key")
	if idem == "" || req.Header.Get("Content-Type") != "application/json" {
		r.problem("POST %s: Idempotency-Key %q, Content-Type %q", path, idem, req.Header.Get("Content-Type"))
		return 400, errJSON("bad_request", "Idempotency-Key and application/json required", "", ""), "", 0
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if prev, ok := r.answers[idem]; ok {
		if prev.hash != hash {
			r.problem("POST %s: Idempotency-Key %s reused for a different body", path, idem)
			return 422, errJSON("idempotency_conflict", "key reused with another body", "", ""), "", 0
		}
		r.stats["replayed"]++
		return prev.status, prev.body, "", 0
	}
	if n := r.rng.IntN(1000); n < r.f.err500 {
		r.stats["500"]++
		return 500, errJSON("internal", "temporary failure", "", ""), "", 0
	} else if n < r.f.err500+r.f.err429 {
		r.stats["429"]++
		return 429, errJSON("rate_limited", "slow down", "", ""), "1", 0
	}
	status, resp = r.post(path, idem, body)
	if status == 200 {
		r.answers[idem] = answer{status, resp, hash}
		if r.rng.IntN(1000) < r.f.late {
			r.stats["late"]++
			if path == "/branch/visits" {
				var b struct{ Items []rVisit }
				_ = json.Unmarshal(body, &b)
				for _, v := range b.Items {
					r.lateVisits[v.MisID] = true
				}
			}
			late = r.f.lateBy
		}
	}
	return status, resp, "", late
}

func (r *receiver) get(req *http.Request) (int, []byte, string, time.Duration) {
	switch req.URL.Path {
	case "/company/ping", "/branch/ping":
		return 200, []byte(`{"ok":true}`), "", 0
	case "/branch/events":
	default:
		r.problem("GET %s: not in the contract", req.URL.Path)
		return 404, errJSON("not_found", "no such path", "", ""), "", 0
	}
	if r.rng.IntN(1000) < r.f.err500 {
		r.stats["500"]++
		return 500, errJSON("internal", "temporary failure", "", ""), "", 0
	}
	q := req.URL.Query()
	after := 0
	if a := q.Get("after"); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 || n > len(r.feed) {
			r.problem("events: bad cursor %q", a)
			return 400, errJSON("bad_cursor", "bad cursor", "after", ""), "", 0
		}
		after = n
	}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 100 {
		r.problem("events: bad limit %q", q.Get("limit"))
		return 400, errJSON("bad_limit", "limit 1..100", "limit", ""), "", 0
	}
	end := min(after+limit, len(r.feed))
	b, _ := json.Marshal(map[string]any{"events": append([]rFeedEvent{}, r.feed[after:end]...), "next": strconv.Itoa(end), "more": end < len(r.feed)})
	return 200, b, "", 0
}

// itemOf decodes one batch item for path and checks it against the contract.
type itemOf func(raw []byte) (misID, idem string, apply func(), err error)

func (r *receiver) post(path, idem string, body []byte) (int, []byte) {
	var one itemOf
	switch path {
	case "/company/filials":
		one = decodeApply(func(v *rFilial) (string, string, error) { return v.MisID, v.IdempotencyKey, nil },
			func(v rFilial) { r.filials[v.MisID] = v })
	case "/company/specialities":
		one = decodeApply(func(v *rSpeciality) (string, string, error) { return v.MisID, v.IdempotencyKey, nil },
			func(v rSpeciality) { r.specs[v.MisID] = v })
	case "/company/services":
		one = decodeApply(func(v *rService) (string, string, error) { return v.MisID, v.IdempotencyKey, checkService(v) },
			func(v rService) { r.services[v.MisID] = v })
	case "/company/doctors":
		one = decodeApply(func(v *rDoctor) (string, string, error) { return v.MisID, v.IdempotencyKey, nil },
			func(v rDoctor) { r.doctors[v.MisID] = v })
	case "/branch/slots":
		one = decodeApply(func(v *rSlot) (string, string, error) { return v.MisID, v.IdempotencyKey, checkSlot(v) },
			func(v rSlot) { r.slots[v.MisID] = v })
	case "/branch/visits":
		one = decodeApply(func(v *rVisit) (string, string, error) { return v.MisID, v.IdempotencyKey, r.checkVisit(v) },
			func(v rVisit) { r.visits[v.MisID], r.visitAt[v.MisID] = v, time.Now() })
	case "/branch/patients":
		one = decodeApply(func(v *rPatient) (string, string, error) { return v.MisID, v.IdempotencyKey, r.checkPatient(v) },
			func(v rPatient) { r.patients[v.MisID] = v })
	case "/branch/patients/unlink":
		var u rUnlink
		if err := strictJSON(body, &u); err != nil || u.PatientMisID == "" || (u.Reason != "card_deleted" && u.Reason != "revoked") {
			r.problem("unlink: %s: %v", body, err)
			return 400, errJSON("bad_json", "bad unlink", "", "")
		}
		if _, ok := r.linked[u.PatientMisID]; !ok {
			return 404, errJSON("not_found", "patient is not linked", "patient_mis_id", u.PatientMisID)
		}
		delete(r.linked, u.PatientMisID)
		r.unlinked[u.PatientMisID] = true
		return 200, []byte(`{}`)
	case "/branch/bookings/answer":
		return r.answerBooking(body)
	default:
		r.problem("POST %s: not used by this test's clinic (link codes are off)", path)
		return 404, errJSON("not_found", "no such path", "", "")
	}
	return r.batch(path, idem, body, one)
}

func decodeApply[T any](check func(*T) (misID, idem string, err error), apply func(T)) itemOf {
	return func(raw []byte) (string, string, func(), error) {
		var v T
		if err := strictJSON(raw, &v); err != nil {
			return "", "", nil, err
		}
		id, idem, err := check(&v)
		return id, idem, func() { apply(v) }, err
	}
}

// codeNotLinked is the contract's refusal code for a patient who is not linked.
const codeNotLinked = "patient_not_linked"

type result struct {
	MisID   string `json:"mis_id"`
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message,omitempty"`
}

// batch validates every item first (one bad item refuses the request: 422), then
// applies each item whose idempotency key it has not applied before.
func (r *receiver) batch(path, idem string, body []byte, one itemOf) (int, []byte) {
	var req struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := strictJSON(body, &req); err != nil || len(req.Items) == 0 || len(req.Items) > 100 {
		r.problem("POST %s: body is not {\"items\":[1..100]}: %v", path, err)
		return 400, errJSON("bad_batch", "1..100 items", "items", "")
	}
	type item struct {
		id, idem string
		apply    func()
	}
	items := make([]item, len(req.Items))
	keys := make([]string, len(req.Items))
	refused := map[int]string{} // item → patient not linked
	for i, raw := range req.Items {
		id, k, apply, err := one(raw)
		if err == nil && (id == "" || k == "") {
			err = fmt.Errorf("mis_id and idempotency_key are required")
		}
		var nl notLinked
		if errors.As(err, &nl) {
			if !r.unlinked[nl.patient] {
				r.problem("POST %s item %d %s: %v (and medsync never unlinked them: it had no link to go by)", path, i, raw, err)
			}
			r.stats["refused: patient not linked"]++
			if r.rng.IntN(2) == 0 { // the contract allows either answer
				return 422, errJSON(codeNotLinked, err.Error(), "patient_mis_id", id)
			}
			refused[i], err = nl.patient, nil
		}
		if err != nil {
			r.problem("POST %s item %d %s: %v", path, i, raw, err)
			return 422, errJSON("validation", err.Error(), "", id)
		}
		items[i], keys[i] = item{id, k, apply}, k
	}
	if want := requestKey(keys); idem != want {
		r.problem("POST %s: Idempotency-Key %s, the contract gives %s for these items", path, idem, want)
	}
	res := make([]result, len(items))
	for i, it := range items {
		if p, ok := refused[i]; ok {
			res[i] = result{MisID: it.id, Status: "rejected", Code: codeNotLinked, Field: "patient_mis_id", Message: notLinked{p}.Error()}
			continue
		}
		res[i] = result{MisID: it.id, Status: "ok"}
		if prev, seen := r.applied[it.idem]; seen {
			if prev != path+"|"+it.id {
				r.problem("idempotency key %s came for %s, earlier for %s", it.idem, path+"|"+it.id, prev)
			}
			res[i].Status = "duplicate"
			r.stats["duplicate items"]++
			continue
		}
		r.applied[it.idem] = path + "|" + it.id
		it.apply()
		r.stats["applied "+path]++
	}
	b, _ := json.Marshal(map[string]any{"results": res})
	return 200, b
}

// requestKey is the contract's request key: the item's key for one item, else
// batch-<sha256 of the keys>.
func requestKey(keys []string) string {
	if len(keys) == 1 {
		return keys[0]
	}
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return "batch-" + hex.EncodeToString(h.Sum(nil))[:32]
}

func checkTimes(start, end string) error {
	if !wireTime.MatchString(start) || !wireTime.MatchString(end) {
		return fmt.Errorf("start %q / end %q are not 2006-01-02T15:04:05+03:00", start, end)
	}
	s, _ := time.Parse(time.RFC3339, start)
	e, _ := time.Parse(time.RFC3339, end)
	if !e.After(s) {
		return fmt.Errorf("end %s is not after start %s", end, start)
	}
	return nil
}

func checkSlot(v *rSlot) error {
	if v.Deleted {
		if v.DoctorMisID != "" || v.Start != "" || v.Free {
			return fmt.Errorf("a deleted slot carries only mis_id and deleted")
		}
		return nil
	}
	if v.DoctorMisID == "" || v.FilialMisID == "" {
		return fmt.Errorf("doctor_mis_id and filial_mis_id are required")
	}
	return checkTimes(v.Start, v.End)
}

func checkService(v *rService) error {
	if v.Mode != "" && v.Mode != "clinic" && v.Mode != "online" {
		return fmt.Errorf("mode %q", v.Mode)
	}
	if v.Price != "" && !regexp.MustCompile(`^-?\d+\.\d\d$`).MatchString(v.Price) {
		return fmt.Errorf("price %q is not rubles.kopecks", v.Price)
	}
	return nil
}

func (r *receiver) checkVisit(v *rVisit) error {
	if v.PatientMisID == "" {
		return fmt.Errorf("patient_mis_id is required")
	}
	if _, ok := r.linked[v.PatientMisID]; !ok {
		return notLinked{v.PatientMisID}
	}
	switch v.Status {
	case stBooked, stCompleted, stNoShow:
		if v.CancelReason != "" {
			return fmt.Errorf("cancel_reason on a visit that is %s", v.Status)
		}
	case stCancelled:
		if v.Start == "" && v.CancelReason != deletedText {
			return fmt.Errorf("a visit without times must be a hard delete («%s»)", deletedText)
		}
		if v.Start == "" {
			return nil
		}
	default:
		return fmt.Errorf("status %q is not one of the contract's", v.Status)
	}
	if v.DoctorMisID == "" || v.FilialMisID == "" {
		return fmt.Errorf("doctor_mis_id and filial_mis_id are required")
	}
	return checkTimes(v.Start, v.End)
}

func (r *receiver) checkPatient(v *rPatient) error {
	if _, ok := r.linked[v.MisID]; !ok {
		return notLinked{v.MisID}
	}
	return nil
}

// notLinked refuses a visit or a patient card of a patient ONDOC has as not linked.
type notLinked struct{ patient string }

func (e notLinked) Error() string {
	return "patient " + e.patient + " is not linked to the clinic: ONDOC shows no visits of theirs"
}
