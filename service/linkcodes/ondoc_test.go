package linkcodes

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"medsync/connectors"
	"medsync/connectors/ondoc"
	"medsync/mapping"
	"medsync/mapping/demo"
	"medsync/service/engine"
)

// fakeONDOCLink is a strict fake of the ONDOC endpoints link codes touch
// (connectors/ondoc/contract.go): link-code, unlink and visits, branch key only,
// idempotency key required, unknown JSON fields refused.
type fakeONDOCLink struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	codes  map[string]string // patient → code
	linked map[string]bool   // answer linked:true for these patients
	unlink []string          // "patient:reason"
	visits []string          // mis_id of visits received
}

const fakeBranchKey = "branch-key-7"

func newFakeONDOCLink(t *testing.T) *fakeONDOCLink {
	f := &fakeONDOCLink{t: t, codes: map[string]string{}, linked: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeONDOCLink) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+fakeBranchKey {
		http.Error(w, `{"error":{"code":"unauthorized","message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Idempotency-Key") == "" {
		http.Error(w, `{"error":{"code":"bad_request","message":"POST with Idempotency-Key"}}`, http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	dec := func(v any) bool {
		d := json.NewDecoder(strings.NewReader(string(body)))
		d.DisallowUnknownFields()
		if err := d.Decode(v); err != nil {
			f.t.Errorf("fake ONDOC %s: %v: %s", r.URL.Path, err, body)
			http.Error(w, `{"error":{"code":"bad_request","message":"bad body"}}`, http.StatusBadRequest)
			return false
		}
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/branch/patients/link-code":
		var req struct {
			PatientMisID string `json:"patient_mis_id"`
			Code         string `json:"code"`
			ExpiresAt    string `json:"expires_at"`
		}
		if !dec(&req) {
			return
		}
		if !ValidCode(req.Code) || req.PatientMisID == "" || !strings.HasSuffix(req.ExpiresAt, "+03:00") {
			f.t.Errorf("fake ONDOC: bad link-code request %+v", req)
		}
		f.codes[req.PatientMisID] = req.Code
		_ = json.NewEncoder(w).Encode(map[string]bool{"linked": f.linked[req.PatientMisID]})
	case "/branch/patients/unlink":
		var req struct {
			PatientMisID string `json:"patient_mis_id"`
			Reason       string `json:"reason"`
		}
		if !dec(&req) {
			return
		}
		f.unlink = append(f.unlink, req.PatientMisID+":"+req.Reason)
		_, _ = w.Write([]byte(`{}`))
	case "/branch/visits":
		var req struct {
			Items []map[string]any `json:"items"`
		}
		if !dec(&req) {
			return
		}
		var res []map[string]string
		for _, it := range req.Items {
			id, _ := it["mis_id"].(string)
			f.visits = append(f.visits, id)
			res = append(res, map[string]string{"mis_id": id, "status": "ok"})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"results": res})
	default:
		http.Error(w, `{"error":{"code":"not_found","message":"no such endpoint"}}`, http.StatusNotFound)
	}
}

// TestONDOCLinkBackfillAndUnlink: an appointment of an unlinked patient is held by the
// real ONDOC connector; issuing the code registers it; ONDOC answers the patient is
// linked and the held appointment is sent (backfill). Revoking sends an unlink.
func TestONDOCLinkBackfillAndUnlink(t *testing.T) {
	f := newFakeONDOCLink(t)
	state := t.TempDir()
	vals := connectors.NewValues("config.ini", "connector.ondoc", map[string]string{
		"server": f.srv.URL, "token_company": "company-key-1", "token_branch": fakeBranchKey, "timezone": "+03:00",
		"timeout": "5s", "rate_limit": "0", "inbound_interval": "0s", "link_required": "true",
		"auth_header": "Authorization", "auth_scheme": "Bearer", "idempotency_header": "Idempotency-Key",
	})
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	conn, err := ondoc.New(connectors.Env{Instance: "ondoc", Logger: log, StateDir: state, BaseDir: state}, vals)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	regs := RegistrarsFrom([]*engine.Target{
		{Name: "ondoc", Conn: conn, Entities: []string{mapping.EntityPatient, mapping.EntityAppointment}},
		{Name: "file", Conn: nopConn{}},
	})
	if len(regs) != 1 || !regs[0].TakesPatients {
		t.Fatalf("registrars: %+v", regs)
	}
	e := newEnv(t, demo.SQLite, func(o *Options) { o.Registrars = regs })
	e.addPatient(900400, "Связев", "Егор", "1980-01-01", "+79161234400", "", 0)
	ctx := context.Background()

	start := time.Now().Add(48 * time.Hour).Truncate(time.Minute)
	appt, _ := json.Marshal(mapping.Appointment{ID: "777001", PatientID: "900400", DoctorID: "1", BranchID: "1",
		Start: start, End: start.Add(30 * time.Minute), Status: mapping.StatusBooked, Source: mapping.SourceRegistry})
	errs := conn.Deliver(ctx, []connectors.Event{{Entity: mapping.EntityAppointment, Op: connectors.OpUpsert, Key: "777001",
		IdempotencyKey: "ondoc-appointment-777001-1", Fingerprint: "1", At: time.Now(), Data: appt, Attempt: 1}})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if len(f.visits) != 0 {
		t.Fatal("an appointment of an unlinked patient was sent")
	}

	f.mu.Lock()
	f.linked["900400"] = true // the patient typed the code: ONDOC answers linked
	f.mu.Unlock()
	res, err := e.svc.Issue(ctx, "900400", "anna")
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	gotCode, visits := f.codes["900400"], append([]string(nil), f.visits...)
	f.mu.Unlock()
	if gotCode != res.Code {
		t.Fatalf("ONDOC got code %q, issued %q", gotCode, res.Code)
	}
	if strings.Join(visits, ",") != "777001" {
		t.Fatalf("held appointment not backfilled after the link: %v", visits)
	}

	if err := e.svc.Revoke(ctx, "900400", "anna"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	unl := append([]string(nil), f.unlink...)
	f.mu.Unlock()
	if strings.Join(unl, ",") != "900400:revoked" {
		t.Fatalf("unlinks: %v", unl)
	}
	// A deleted card: ONDOC unlinks on the patient event itself; medsync does not double it.
	if _, err := e.svc.Issue(ctx, "900400", "anna"); err != nil {
		t.Fatal(err)
	}
	e.exec(`UPDATE CLIENTS SET DELETED = 1 WHERE PCODE = :id`, map[string]any{"id": 900400})
	e.svc.AfterPoll(ctx)
	f.mu.Lock()
	n := len(f.unlink)
	f.mu.Unlock()
	if n != 1 {
		t.Fatalf("medsync sent its own unlink for a deleted card to ONDOC, which unlinks on the patient event: %v", f.unlink)
	}
	st, _ := e.svc.Status(ctx, "900400")
	if st.Codes[0].State != StateCanceled {
		t.Fatalf("code of a deleted card: %s", st.Codes[0].State)
	}
	if strings.Contains(logs.String(), res.Code) || strings.Contains(e.logs.String(), res.Code) {
		t.Error("a log contains the code")
	}
}

type nopConn struct{}

func (nopConn) Deliver(_ context.Context, b []connectors.Event) []error { return make([]error, len(b)) }
func (nopConn) Close() error                                            { return nil }
