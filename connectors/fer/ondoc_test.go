package fer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "medsync/connectors/ondoc"
	"medsync/mapping/demo"
)

// ondocPeer is an ONDOC server as connectors/ondoc's README describes it: batch POSTs
// {"items":[…]} with the company or branch key and an idempotency key, answered item by
// item; single POSTs for link codes, unlinks and booking answers; an empty events feed.
// It refuses what breaks the contract (401, 400).
type ondocPeer struct {
	srv   *httptest.Server
	mu    sync.Mutex
	items map[string][]map[string]any // path → items received
	bad   []string
}

func newONDOCPeer(t *testing.T) *ondocPeer {
	p := &ondocPeer{items: map[string][]map[string]any{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *ondocPeer) serve(w http.ResponseWriter, r *http.Request) {
	key := "branch-key-2"
	if strings.HasPrefix(r.URL.Path, "/company/") {
		key = "company-key-1"
	}
	refuse := func(code int, why string) {
		p.mu.Lock()
		p.bad = append(p.bad, r.Method+" "+r.URL.Path+": "+why)
		p.mu.Unlock()
		http.Error(w, `{"error":{"code":"bad","message":"`+why+`"}}`, code)
	}
	if r.Header.Get("Authorization") != "Bearer "+key {
		refuse(http.StatusUnauthorized, "wrong key")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		if r.URL.Path == "/branch/events" {
			_, _ = w.Write([]byte(`{"events":[],"next":"","more":false}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
		return
	}
	if r.Header.Get("Idempotency-Key") == "" {
		refuse(http.StatusBadRequest, "no idempotency key")
		return
	}
	switch r.URL.Path {
	case "/branch/patients/unlink", "/branch/patients/link-code", "/branch/bookings/answer": // single requests
		var one map[string]any
		if err := json.NewDecoder(r.Body).Decode(&one); err != nil {
			refuse(http.StatusBadRequest, "not JSON")
			return
		}
		_, _ = w.Write([]byte(`{}`))
		return
	}
	var body struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Items == nil {
		refuse(http.StatusBadRequest, "not a batch")
		return
	}
	type result struct {
		MisID  string `json:"mis_id"`
		Status string `json:"status"`
	}
	var res []result
	p.mu.Lock()
	for _, it := range body.Items {
		id, _ := it["mis_id"].(string)
		if id == "" || it["idempotency_key"] == nil {
			p.bad = append(p.bad, r.URL.Path+": item without mis_id or idempotency_key")
		}
		p.items[r.URL.Path] = append(p.items[r.URL.Path], it)
		res = append(res, result{MisID: id, Status: "ok"})
	}
	p.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"results": res})
}

// find reports whether path received an item for which ok holds.
func (p *ondocPeer) find(path string, ok func(map[string]any) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range p.items[path] {
		if ok(it) {
			return true
		}
	}
	return false
}

// TestBookingReachesONDOC: a booking made through ФЭР shows in ONDOC as a busy slot and
// as the patient's visit within seconds, without a poll; the cancellation frees the slot
// there the same way.
func TestBookingReachesONDOC(t *testing.T) {
	peer := newONDOCPeer(t)
	s := startStack(t, demo.SQLite, "\n[connector.ondoc]\nserver = "+peer.srv.URL+"\ntoken_company = company-key-1\ntoken_branch = branch-key-2\nlink_required = false\n")
	srv := s.server()
	polls := func() int {
		p, err := s.app.Store.Polls(t.Context(), time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return len(p)
	}
	for i := 0; i < 500 && polls() < 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	before := polls()
	doc := s.pickDoctor(t, "Europe/Moscow", 1)
	slot := doc.slots[0]
	pat := s.patients(t, 1)[0]
	session := identify(t, srv, pat)
	_, got := srv.call(t, OpCreateAppointment, createReqXML(session, slot.ID))
	book := between(got, "<Book_Id_Mis>", "</Book_Id_Mis>")
	if book == "" {
		t.Fatalf("booking: %s", got)
	}
	wait := func(what, path string, ok func(map[string]any) bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if peer.find(path, ok) {
				return
			}
		}
		t.Fatalf("ONDOC never got %s", what)
	}
	wait("the slot as busy", "/branch/slots", func(it map[string]any) bool { return it["mis_id"] == slot.ID && it["free"] == false })
	wait("the visit", "/branch/visits", func(it map[string]any) bool {
		return it["mis_id"] == book && it["patient_mis_id"] == pat.id && it["status"] == "Записан"
	})
	_, c := srv.call(t, OpCancelAppointment, `<er:CancelAppointmentRequest><er:Book_Id_Mis>`+book+`</er:Book_Id_Mis><er:Canceled_Reason>CANCELED_BY_PATIENT</er:Canceled_Reason></er:CancelAppointmentRequest>`)
	if !strings.Contains(c, "<Status_Code>CANCELED</Status_Code>") {
		t.Fatalf("cancel: %s", c)
	}
	wait("the visit cancelled", "/branch/visits", func(it map[string]any) bool { return it["mis_id"] == book && it["status"] == "Отменена" })
	if n := polls(); n != before {
		t.Errorf("%d polls ran meanwhile", n-before)
	}
	if len(peer.bad) > 0 {
		t.Errorf("ONDOC refused: %v", peer.bad)
	}
}
